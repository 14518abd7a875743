namespace Scalio.Fast.Client;

/// <summary>Marks a <c>static partial class</c> whose <see cref="ProtocolStepAttribute"/> and
/// <see cref="StepChainAttribute"/> declarations Scalio.Generators turns into unsafe work-request builders.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
internal sealed class WorkRequestStepsAttribute : Attribute;

/// <summary>Declares one protocol step: one work request with a fixed operation, local buffer and remote target.</summary>
/// <param name="name">Step name; the builder method is called so.</param>
/// <param name="operation">The operation.</param>
/// <param name="buffer">The local buffer.</param>
/// <param name="target">The remote memory.</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
internal sealed class ProtocolStepAttribute(string name, StepOperation operation, StepBuffer buffer, StepTarget target) : Attribute
{
    /// <summary>Step name.</summary>
    public string Name { get; } = name;

    /// <summary>The operation.</summary>
    public StepOperation Operation { get; } = operation;

    /// <summary>The local buffer.</summary>
    public StepBuffer Buffer { get; } = buffer;

    /// <summary>The remote memory.</summary>
    public StepTarget Target { get; } = target;
}

/// <summary>Declares a chain of steps posted with one doorbell: every request but the last is unsignaled, a READ after
/// an atomic is fenced, the last request is signaled.</summary>
/// <param name="name">Chain name; the builder is called so and the poster <c>Post</c> + name.</param>
/// <param name="steps">Step names in posting order.</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
internal sealed class StepChainAttribute(string name, params string[] steps) : Attribute
{
    /// <summary>Chain name.</summary>
    public string Name { get; } = name;

    /// <summary>Step names in posting order.</summary>
    public IReadOnlyList<string> Steps { get; } = steps;
}

/// <summary>
/// The cache protocol's one-sided steps (DESIGN.md, GET steps 1-6) and the chains the client posts with one doorbell.
/// Scalio.Generators emits, for each step, an unsafe builder that fills one preallocated <see cref="Verbs.WorkRequest"/>
/// and, for each chain, a builder that fills consecutive requests and a poster that builds and posts them at once.
/// </summary>
[WorkRequestSteps]
[ProtocolStep("ReadBucket", StepOperation.Read, StepBuffer.Bucket, StepTarget.Bucket)]
[ProtocolStep("Touch", StepOperation.Write, StepBuffer.SlotStamp, StepTarget.SlotStamp)]
[ProtocolStep("LockVictim", StepOperation.CompareSwap, StepBuffer.Atomic, StepTarget.SlotHeader)]
[ProtocolStep("ReadLocation", StepOperation.Read, StepBuffer.Location, StepTarget.LocationEntry)]
[ProtocolStep("FillSlot", StepOperation.Write, StepBuffer.SlotBody, StepTarget.SlotBody)]
[ProtocolStep("Publish", StepOperation.CompareSwap, StepBuffer.Atomic, StepTarget.SlotHeader)]
[ProtocolStep("Release", StepOperation.CompareSwap, StepBuffer.Atomic, StepTarget.SlotHeader)]
[ProtocolStep("Orphan", StepOperation.CompareSwap, StepBuffer.Atomic, StepTarget.SlotHeader)]
[StepChain("LockAndReread", "LockVictim", "ReadBucket")]
[StepChain("FillAndPublish", "FillSlot", "Publish")]
internal static unsafe partial class ProtocolSteps;
