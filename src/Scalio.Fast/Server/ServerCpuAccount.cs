namespace Scalio.Fast.Server;

// The server's cores as an account that serving threads other than its workers charge (a software NVMe-oF target).
public sealed partial class ScalioServer
{
    /// <summary>This server's cores as an account other serving threads charge (a software NVMe-oF target on them):
    /// their CPU counts in <see cref="BusyNanoseconds"/> and draws on <see cref="Budget"/>.</summary>
    internal Scalio.Offload.IServerCpuAccount CpuAccount => _cpuAccount ??= new ServerCpuAccount(this);

    private ServerCpuAccount? _cpuAccount;

    private sealed class ServerCpuAccount(ScalioServer server) : Scalio.Offload.IServerCpuAccount
    {
        public long OverdraftTicks => server._budget?.OverdraftTicks ?? long.MinValue;

        public void Pause(long overdraftTicks) => server._budget?.Pause(overdraftTicks);

        public void Charge(long cpuNanoseconds)
        {
            Interlocked.Add(ref server._busyNanoseconds, cpuNanoseconds);
            server._budget?.Charge(cpuNanoseconds);
        }
    }
}
