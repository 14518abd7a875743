namespace Scalio.Checking;

/// <summary>What a key holds before the first operation of the history.</summary>
public enum InitialState
{
    /// <summary>Every key starts not found (the default).</summary>
    Absent,

    /// <summary>Every key starts with some unknown value (or not found), which the first linearized get may fix.</summary>
    Unknown,
}

/// <summary>Options of <see cref="LinearizabilityChecker.Check"/>.</summary>
public sealed class CheckOptions
{
    /// <summary>What every key holds before the history starts. Default <see cref="Checking.InitialState.Absent"/>.</summary>
    public InitialState InitialState { get; init; } = InitialState.Absent;

    /// <summary>
    /// Wall-time budget for the search of one key; when it runs out the key (and the result) is
    /// <see cref="Verdict.Unknown"/>. Default 10 s.
    /// </summary>
    public TimeSpan TimeBudget { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Search-step budget for one key; when it runs out the key is <see cref="Verdict.Unknown"/>. Default 100 million.</summary>
    public long StepBudget { get; init; } = 100_000_000;

    internal void Validate()
    {
        if (InitialState is not (InitialState.Absent or InitialState.Unknown))
        {
            throw new ArgumentException($"Unknown initial state {(int)InitialState}.");
        }

        if (TimeBudget <= TimeSpan.Zero)
        {
            throw new ArgumentException("TimeBudget must be positive.");
        }

        if (StepBudget <= 0)
        {
            throw new ArgumentException("StepBudget must be positive.");
        }
    }
}
