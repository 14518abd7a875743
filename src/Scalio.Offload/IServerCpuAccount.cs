namespace Scalio.Offload;

/// <summary>
/// The server CPU an offload engine spends when it is not a NIC but a software NVMe-oF target on the server's own
/// cores (a JBOF without target offload): the engine charges its busy thread CPU here and waits while the account is
/// overdrawn, by the same rules as the server's workers.
/// </summary>
public interface IServerCpuAccount
{
    /// <summary>Ticks (<see cref="System.Diagnostics.Stopwatch"/>) by which the account is overdrawn; 0 or less: may run.</summary>
    long OverdraftTicks { get; }

    /// <summary>Waits about <paramref name="overdraftTicks"/> for credit.</summary>
    void Pause(long overdraftTicks);

    /// <summary>Charges <paramref name="cpuNanoseconds"/> of serving CPU.</summary>
    void Charge(long cpuNanoseconds);
}
