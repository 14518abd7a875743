using Scalio.Fast.Client;
using Scalio.Generators.Helpers;

namespace Scalio.Generators.Steps;

/// <summary>One declared protocol step: one work request.</summary>
internal sealed record StepModel(string Name, StepOperation Operation, StepBuffer Buffer, StepTarget Target);

/// <summary>A chain of steps posted with one doorbell.</summary>
internal sealed record ChainModel(string Name, EquatableArray<string> Steps);

/// <summary>Everything the emitter needs about one [WorkRequestSteps] class, as plain equatable data.</summary>
internal sealed record StepsModel(
    string Namespace,
    EquatableArray<string> ContainingTypes,
    string Declaration,
    string DisplayName,
    EquatableArray<StepModel> Steps,
    EquatableArray<ChainModel> Chains,
    EquatableArray<DiagnosticInfo> Diagnostics);
