using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Scalio.Verbs;
using Scalio.Verbs.Libfabric;

namespace Scalio.Tests.Libfabric;

/// <summary>
/// Server in the test process, client in a child process (a small program compiled here with Roslyn against
/// Scalio.Verbs and run with <c>dotnet exec</c>), over tcp;ofi_rxm on 127.0.0.1 through the side channel.
/// </summary>
public sealed class LibfabricTwoProcessTests
{
    private const string ClientSource = """
        using System;
        using System.Net;
        using System.Runtime.InteropServices;
        using Scalio.Verbs;
        using Scalio.Verbs.Libfabric;

        public static class ChildClient
        {
            public static int Main(string[] args)
            {
                using var fabric = LibfabricFabric.Open(new LibfabricOptions { Provider = "tcp" });
                using var domain = fabric.CreateDomain();
                var mr = domain.Allocate(4096, MemoryAccess.All);
                using var c = LibfabricConnector.Connect(domain, new IPEndPoint(IPAddress.Loopback, int.Parse(args[0])), null, new byte[] { 7 });
                var qp = c.QueuePair;
                uint key = c.Peer.Regions[0].RemoteKey;
                Console.WriteLine("descriptor " + Convert.ToHexString(c.Peer.Descriptor));
                Completion Run(WorkRequest wr)
                {
                    qp.PostSend(wr);
                    if (!qp.SendQueue.PollBlocking(out var wc, timeoutMilliseconds: 10000)) throw new TimeoutException("no completion");
                    return wc;
                }
                "from-child"u8.CopyTo(mr.Span);
                Console.WriteLine("write " + Run(WorkRequest.Write(1, mr.BaseAddress, 10, mr.LocalKey, 16, key)).Status);
                Console.WriteLine("read " + Run(WorkRequest.Read(2, mr.AddressOf(512), 8, mr.LocalKey, 0, key)).Status + " " + MemoryMarshal.Read<ulong>(mr.Span.Slice(512)));
                Console.WriteLine("cas " + Run(WorkRequest.CompareSwap(3, mr.AddressOf(520), mr.LocalKey, 0, key, 1000, 2000)).Status + " " + MemoryMarshal.Read<ulong>(mr.Span.Slice(520)));
                Console.WriteLine("fadd " + Run(WorkRequest.FetchAdd(4, mr.AddressOf(528), mr.LocalKey, 0, key, 5)).Status + " " + MemoryMarshal.Read<ulong>(mr.Span.Slice(528)));
                "bye"u8.CopyTo(mr.Span.Slice(600));
                Console.WriteLine("send " + Run(WorkRequest.Send(5, mr.AddressOf(600), 3, mr.LocalKey)).Status);
                Console.WriteLine("badkey " + Run(WorkRequest.Read(6, mr.AddressOf(512), 8, mr.LocalKey, 0, key ^ 0x10000u)).Status + " " + qp.State);
                return 0;
            }
        }
        """;

    [LibfabricFact]
    public async Task A_client_process_runs_rma_atomics_and_messages_against_this_process()
    {
        string dir = Path.Combine(Path.GetTempPath(), "scalio-lf-child-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            string child = BuildChild(dir); // Roslyn: seconds on a loaded machine, most of this test's time

            using var fabric = LibfabricFabric.Open(new LibfabricOptions { Provider = "tcp" });
            using var domain = fabric.CreateDomain();
            var region = domain.Allocate(4096, MemoryAccess.All);
            var inbox = domain.Allocate(64, MemoryAccess.LocalWrite);
            MemoryMarshal.Write(region.Span, 1000UL);
            using var listener = new LibfabricListener(domain, new IPEndPoint(IPAddress.Loopback, 0), hello => ([domain.Describe(region)], [0xAB, 0xCD]));
            var accept = listener.AcceptAsync();

            var psi = new ProcessStartInfo(DotnetHost(), ["exec", child, listener.LocalEndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using var process = Process.Start(psi)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            try
            {
                using var conn = await accept.WaitAsync(TimeSpan.FromSeconds(60));
                Assert.Equal(new byte[] { 7 }, conn.Peer.Descriptor);
                conn.QueuePair.PostReceive(new ReceiveRequest(9, inbox.BaseAddress, 64, inbox.LocalKey));
                var rc = LibfabricProviderTests.Wait(conn.QueuePair.ReceiveQueue);
                Assert.Equal(CompletionStatus.Success, rc.Status);
                Assert.Equal("bye"u8.ToArray(), inbox.Span[..(int)rc.ByteLength].ToArray());
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                await process.WaitForExitAsync(cts.Token);
            }
            finally
            {
                if (!process.HasExited) process.Kill(entireProcessTree: true);
            }
            string output = await stdout;
            Assert.True(process.ExitCode == 0, $"child exited with {process.ExitCode}:\n{output}\n{await stderr}");
            string[] expected =
            [
                "descriptor ABCD",
                "write Success",
                "read Success 1000",
                "cas Success 1000",
                "fadd Success 2000",
                "send Success",
                "badkey RemoteAccessError Error",
            ];
            Assert.Equal(expected, output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            Assert.Equal("from-child"u8.ToArray(), region.Span.Slice(16, 10).ToArray());
            Assert.Equal(2005UL, MemoryMarshal.Read<ulong>(region.Span));
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static string DotnetHost()
    {
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host)) return host;
        string? root = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        if (!string.IsNullOrEmpty(root) && File.Exists(Path.Combine(root, "dotnet"))) return Path.Combine(root, "dotnet");
        return "dotnet";
    }

    // Compiles the client against the platform assemblies and Scalio.Verbs, next to a copy of Scalio.Verbs (it has no package dependencies).
    private static string BuildChild(string dir)
    {
        string verbs = typeof(LibfabricFabric).Assembly.Location;
        string platform = (string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!;
        string[] needed = ["System.Private.CoreLib.dll", "System.Runtime.dll", "System.Console.dll", "System.Net.Primitives.dll",
            "System.Runtime.InteropServices.dll", "System.Memory.dll", "System.Collections.dll"];
        var references = platform.Split(Path.PathSeparator)
            .Where(p => needed.Contains(Path.GetFileName(p)))
            .Select(p => MetadataReference.CreateFromFile(p))
            .Append(MetadataReference.CreateFromFile(verbs))
            .ToList();
        var compilation = CSharpCompilation.Create("ScalioLibfabricChild",
            [CSharpSyntaxTree.ParseText(ClientSource, new CSharpParseOptions(LanguageVersion.Latest))],
            references,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, allowUnsafe: true, nullableContextOptions: NullableContextOptions.Disable));
        string output = Path.Combine(dir, "ScalioLibfabricChild.dll");
        using (var stream = File.Create(output))
        {
            var result = compilation.Emit(stream);
            Assert.True(result.Success, string.Join('\n', result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
        }
        File.Copy(verbs, Path.Combine(dir, Path.GetFileName(verbs)), overwrite: true);
        var v = Environment.Version;
        File.WriteAllText(Path.Combine(dir, "ScalioLibfabricChild.runtimeconfig.json"),
            $$"""{ "runtimeOptions": { "tfm": "net{{v.Major}}.{{v.Minor}}", "framework": { "name": "Microsoft.NETCore.App", "version": "{{v.Major}}.{{v.Minor}}.{{v.Build}}" } } }""");
        return output;
    }
}
