using System.Net;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using Scalio.Tests.Libfabric;
using Scalio.Verbs;
using Scalio.Verbs.Libfabric;

namespace Scalio.Tests.Verbs;

/// <summary>What a protection domain says it can do, which the server asks instead of testing for a provider type.</summary>
public sealed class FabricCapabilityTests
{
    [Fact]
    public unsafe void A_loopback_domain_is_in_process_cpu_coherent_and_without_a_progress_thread()
    {
        using var domain = new LoopbackFabric().CreateDomain();
        Assert.True(domain.CpuAtomicsCoherentWithPeers);
        Assert.False(domain.ReachableFromOtherProcesses);
        Assert.False(domain.HasProgressThread);
        Assert.Equal(-1, domain.ProgressThreadCpuNanoseconds);
        using var region = domain.Allocate(64, MemoryAccess.All, 64);
        var e = Assert.Throws<NotSupportedException>(() => domain.CreateListener(new IPEndPoint(IPAddress.Loopback, 0), [region], () => [], new ListenerSettings()));
        Assert.Contains("in-process", e.Message, StringComparison.Ordinal);
        var (initiator, target) = domain.ConnectToSelf([region]);
        using (initiator)
        using (target)
        {
            *(ulong*)region.Address = 5;
            using var result = domain.Allocate(8, MemoryAccess.LocalWrite, 8);
            initiator.PostSend(WorkRequest.CompareSwap(1, result.BaseAddress, result.LocalKey, 0, region.RemoteKey, 5, 9));
            Assert.True(initiator.SendQueue.PollBlocking(out var wc, timeoutMilliseconds: 5000) && wc.IsSuccess, $"{wc.Status}");
            Assert.Equal(5UL, *(ulong*)result.Address);
            Assert.Equal(9UL, *(ulong*)region.Address);
        }
    }

    [LibfabricFact(Timeout = 30_000)]
    public async Task A_libfabric_domain_serves_other_processes_through_its_provider_and_connects_to_itself()
    {
        await Task.Yield();
        using var fabric = LibfabricFabric.Open(new LibfabricOptions { Provider = "tcp;ofi_rxm" });
        using ProtectionDomain domain = fabric.CreateDomain();
        Assert.False(domain.CpuAtomicsCoherentWithPeers);
        Assert.True(domain.ReachableFromOtherProcesses);
        Assert.True(domain.HasProgressThread);
        var region = domain.Allocate(64, MemoryAccess.All, 64);
        using (var listener = domain.CreateListener(new IPEndPoint(IPAddress.Loopback, 0), [region], () => [1, 2, 3], new ListenerSettings()))
            Assert.NotEqual(0, listener.LocalEndPoint.Port);
        var (initiator, target) = domain.ConnectToSelf([region]);
        using (initiator)
        using (target)
        {
            unsafe { *(ulong*)region.Address = 5; }
            var result = domain.Allocate(8, MemoryAccess.LocalWrite, 8);
            initiator.PostSend(WorkRequest.CompareSwap(1, result.BaseAddress, result.LocalKey, 0, region.RemoteKey, 5, 9));
            Assert.True(initiator.SendQueue.PollBlocking(out var wc, timeoutMilliseconds: 5000) && wc.IsSuccess, $"{wc.Status}");
            unsafe
            {
                Assert.Equal(5UL, *(ulong*)result.Address);
                Assert.Equal(9UL, *(ulong*)region.Address);
            }
        }
    }

    [Fact]
    public void The_product_names_no_provider_type_and_holds_no_baseline()
    {
        // Source: the server asks the domain for capabilities; no file of the product names the libfabric domain type
        // or a baseline (LEED, Ditto) or broken-mode type.
        // The product is the store and what it is built from above the fabric: NVMe and the offload engine.
        string src = Path.Combine(RepositoryPaths.Root(), "src");
        foreach (var (project, least) in new[] { ("Scalio.Fast", 50), ("Scalio.Nvme", 20), ("Scalio.Offload", 5) })
        {
            var files = Directory.GetFiles(Path.Combine(src, project), "*.cs", SearchOption.AllDirectories)
                .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                    && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)).ToList();
            Assert.True(files.Count > least, $"only {files.Count} source files found under src/{project}");
            foreach (var f in files)
            {
                string text = File.ReadAllText(f);
                foreach (var word in new[] { "LibfabricDomain", "LoopbackDomain", "Leed", "LEED", "Ditto", "BrokenWriteMode", "UnguardedFill" })
                    Assert.False(text.Contains(word, StringComparison.Ordinal), $"{Path.GetRelativePath(src, f)} names {word}");
            }
        }

        // Assembly: no baseline or broken-mode type is defined in the product; the baselines live in their own assembly.
        using var pe = new PEReader(File.OpenRead(typeof(Scalio.Fast.ScalioStore).Assembly.Location));
        var md = pe.GetMetadataReader();
        var defined = new List<string>();
        foreach (var h in md.TypeDefinitions) defined.Add(md.GetString(md.GetTypeDefinition(h).Name));
        Assert.Contains("ScalioServer", defined); // the scan sees the product's types
        foreach (var name in new[] { "LeedClient", "LeedMode", "DittoFill", "DittoServerFill", "BrokenWriteMode" })
            Assert.DoesNotContain(name, defined);
        Assert.Contains("LeedClient", typeof(Scalio.Baselines.LeedClient).Assembly.GetTypes().Select(t => t.Name));

        // Compiled references too (a `var` can bind a type no source names): the product never refers to a provider's domain.
        var referenced = new List<string>();
        foreach (var h in md.TypeReferences) referenced.Add(md.GetString(md.GetTypeReference(h).Name));
        Assert.Contains("ProtectionDomain", referenced); // the scan sees the fabric types the product does use
        foreach (var name in new[] { "LibfabricDomain", "LoopbackDomain" })
            Assert.DoesNotContain(name, referenced);
    }
}
