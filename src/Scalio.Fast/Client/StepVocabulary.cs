// The protocol step vocabulary, declared once: compiled into Scalio.Fast (the runtime) and, as a linked file, into
// Scalio.Generators (which reads [ProtocolStep] arguments with it). Keep it free of references to either assembly.
namespace Scalio.Fast.Client;

/// <summary>What a declared protocol step does on the fabric (maps to <c>Scalio.Verbs.WorkOpcode</c>).</summary>
internal enum StepOperation
{
    /// <summary>One-sided READ.</summary>
    Read = 0,
    /// <summary>One-sided WRITE.</summary>
    Write = 1,
    /// <summary>8-byte compare-and-swap.</summary>
    CompareSwap = 2,
}

/// <summary>The client-side buffer a step uses (offsets in <c>StepContext</c>).</summary>
internal enum StepBuffer
{
    /// <summary>The bucket image buffer (<c>StepContext.BucketBuffer</c>).</summary>
    Bucket = 0,
    /// <summary>The 8-byte atomic result buffer (<c>StepContext.AtomicBuffer</c>).</summary>
    Atomic = 1,
    /// <summary>The location-entry buffer (<c>StepContext.LocationBuffer</c>).</summary>
    Location = 2,
    /// <summary>The slot image buffer, from its checksum on (<c>StepContext.SlotBuffer</c>).</summary>
    SlotBody = 3,
    /// <summary>The access-stamp field of the slot image buffer (<c>StepContext.SlotBuffer</c> +
    /// <c>SlotLayout.StampOffset</c>).</summary>
    SlotStamp = 4,
}

/// <summary>The server memory a step addresses.</summary>
internal enum StepTarget
{
    /// <summary>A whole cache bucket (operand <c>bucket</c>).</summary>
    Bucket = 0,
    /// <summary>A slot's 8-byte header word (operands <c>bucket</c>, <c>slot</c>).</summary>
    SlotHeader = 1,
    /// <summary>A slot from its checksum to the end of the value (operands <c>bucket</c>, <c>slot</c>, <c>valueLength</c>).</summary>
    SlotBody = 2,
    /// <summary>One entry of the location index (operand <c>ssdBucket</c>).</summary>
    LocationEntry = 3,
    /// <summary>A slot's 4-byte access stamp (operands <c>bucket</c>, <c>slot</c>).</summary>
    SlotStamp = 4,
}
