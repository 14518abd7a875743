using Scalio.Generators.Helpers;

namespace Scalio.Generators.Steps;

/// <summary>Values of Scalio.Fast.Client.StepOperation (kept in sync by the tests that compile Scalio.Fast).</summary>
internal enum StepOperation
{
    Read = 0,
    Write = 1,
    CompareSwap = 2,
}

/// <summary>Values of Scalio.Fast.Client.StepBuffer.</summary>
internal enum StepBuffer
{
    Bucket = 0,
    Atomic = 1,
    Location = 2,
    SlotBody = 3,
    SlotStamp = 4,
}

/// <summary>Values of Scalio.Fast.Client.StepTarget.</summary>
internal enum StepTarget
{
    Bucket = 0,
    SlotHeader = 1,
    SlotBody = 2,
    LocationEntry = 3,
    SlotStamp = 4,
}

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
