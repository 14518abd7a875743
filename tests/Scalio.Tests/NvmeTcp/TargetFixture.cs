using System.Net;
using Scalio.Nvme;
using Scalio.Nvme.Tcp;

namespace Scalio.Tests.NvmeTcp;

/// <summary>An NVMe/TCP target on 127.0.0.1 (ephemeral port) over a RAM namespace, for one test.</summary>
internal sealed class TargetFixture : IDisposable
{
    public const string Nqn = "nqn.2024-01.io.scalio:test";

    public TargetFixture(int lbaSize = 512, ulong blocks = 8192, TimeSpan? pduTimeout = null, int inCapsule = 16384, IReadOnlyCollection<string>? allowedHosts = null)
    {
        Namespace = new RamNamespace(1, lbaSize, blocks);
        Target = new NvmeTcpTarget(
            new NvmeTcpTargetOptions
            {
                Endpoint = new IPEndPoint(IPAddress.Loopback, 0),
                SubsystemNqn = Nqn,
                PduTimeout = pduTimeout ?? TimeSpan.FromSeconds(5),
                InCapsuleDataSize = inCapsule,
                MaxH2CData = 32 * 1024,
                AllowedHosts = allowedHosts,
            },
            [Namespace]);
        Target.Start();
    }

    public RamNamespace Namespace { get; }

    public NvmeTcpTarget Target { get; }

    public int Port => Target.Endpoint.Port;

    public Task<NvmeTcpInitiator> ConnectAsync(NvmeTcpInitiatorOptions? options = null) =>
        NvmeTcpInitiator.ConnectAsync("127.0.0.1", Port, Nqn, options ?? new NvmeTcpInitiatorOptions(), new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);

    public void Dispose()
    {
        Target.Dispose();
        Namespace.Dispose();
    }
}
