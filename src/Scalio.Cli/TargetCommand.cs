using System.CommandLine;
using System.Net;
using System.Runtime.InteropServices;
using Scalio.Fast.OffloadTcp;
using Scalio.Offload;

namespace Scalio.Cli;

/// <summary>
/// <c>scalio target</c>: the offload engine in its own process, an NVMe/TCP target serving a store's namespace files
/// read-only, so that clients' misses read the SSDs without the server. (<c>scalio nvme target</c> is the generic test
/// target with its own scratch namespace; this one serves the files <c>scalio server --data-dir</c> writes.)
/// </summary>
internal static class TargetCommand
{
    public static Command Create()
    {
        var dataDir = new Option<string>("--data-dir") { Description = "The store's data directory (ssd0.img, ssd1.img, ... written by `scalio server --data-dir`)", Required = true };
        var listen = new Option<string>("--listen") { Description = "Address and port to listen on, e.g. 127.0.0.1:4420", DefaultValueFactory = _ => "127.0.0.1:4420" };
        var subnqn = new Option<string>("--subnqn") { Description = "Subsystem NQN to serve", DefaultValueFactory = _ => NvmeTcpOffloadReadPath.DefaultSubsystemNqn };
        var threads = new Option<int>("--threads") { Description = "Commands executed at once over all connections (the offload engine's threads); 0 = one per connection", DefaultValueFactory = _ => 0 };
        var lbaSize = new Option<int>("--lba-size") { Description = "LBA size of the store's namespaces (the store's LbaSize): 512 or 4096", DefaultValueFactory = _ => 4096 };
        Option<string[]> allowHost = HostAllowList.CreateOption();
        var authToken = new Option<string?>("--auth-token-file") { Description = "Admit the host NQN that clients of 'scalio server --auth-token-file' with this same token use (derived from the token by HMAC; added to --allow-host)" };
        var readerToken = new Option<string?>("--reader-token-file") { Description = "Admit the host NQN derived from the server's --reader-token-file too (its readers' misses)" };
        var cmd = new Command("target",
            "Run the offload target: serve the store's namespace files in --data-dir over NVMe/TCP as NSIDs 1..N (NSID = device index + 1), " +
            "READ-ONLY with O_DIRECT reads (writes get 'Namespace is Write Protected'; only the server writes the SSDs), print a line with 'ready' " +
            "when it accepts connections, and stay up until Ctrl-C or SIGTERM. Start `scalio server --data-dir DIR` first: every file must carry " +
            "the store's superblock. Its CPU time is reported as NIC time at shutdown.")
        {
            dataDir, listen, subnqn, threads, lbaSize, allowHost, authToken, readerToken,
        };
        cmd.SetAction(parse =>
        {
            string text = parse.GetValue(listen)!;
            if (!IPEndPoint.TryParse(text, out IPEndPoint? endpoint) || (endpoint.Port == 0 && !text.EndsWith(":0", StringComparison.Ordinal)))
            {
                CliErrors.Report($"scalio target: --listen needs ADDRESS:PORT, e.g. 127.0.0.1:4420; got '{text}'.");
                return 2;
            }

            int lba = parse.GetValue(lbaSize);
            int engines = parse.GetValue(threads);
            if (lba is not (512 or 4096) || engines < 0)
            {
                CliErrors.Report("scalio target: --lba-size must be 512 or 4096 and --threads 0 or more.");
                return 2;
            }

            if (!HostAllowList.TryRead(parse.GetValue(allowHost), "scalio target", out string[]? hosts))
            {
                return 2;
            }

            foreach (var (option, file) in new[] { ("--auth-token-file", parse.GetValue(authToken)), ("--reader-token-file", parse.GetValue(readerToken)) })
            {
                if (file is null) continue;
                try
                {
                    // The NQN crosses the wire in clear: this keeps other hosts out as an allow-list does, no more (docs/security.md).
                    hosts = [.. hosts ?? [], Scalio.Verbs.Libfabric.AuthToken.FromFile(file).OffloadHostNqn];
                }
                catch (Scalio.Verbs.Libfabric.AuthTokenFileException e)
                {
                    return CliErrors.Fail($"scalio target: {option}: {e.Message}");
                }
            }

            string dir = parse.GetValue(dataDir)!;
            StoreOffloadTarget target;
            try
            {
                target = StoreOffloadTarget.Open(dir, new StoreOffloadTargetOptions
                {
                    Endpoint = endpoint,
                    SubsystemNqn = parse.GetValue(subnqn)!,
                    LbaSize = lba,
                    Threads = engines,
                    AllowedHosts = hosts,
                });
            }
            catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException)
            {
                CliErrors.Report($"scalio target: cannot serve {dir}: {e.Message}");
                return 2;
            }
            catch (System.Net.Sockets.SocketException e)
            {
                CliErrors.Report($"scalio target: cannot listen on {endpoint}: {e.Message}");
                return 2;
            }

            using (target)
            {
                HostAllowList.Announce(target.Target, "scalio target");
                using var stop = new ManualResetEventSlim();
                using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Set(); });
                using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Set(); });
                var ns = target.Namespaces;
                string io = ns[0].IsDirectIo ? "O_DIRECT" : "buffered (" + ns[0].DirectIoFallbackReason + ")";
                Console.WriteLine($"scalio target ready: listening on {target.Endpoint}, subsystem {target.SubsystemNqn}, " +
                    $"{ns.Count} namespace(s) read-only from {target.DataDirectory} (nsid 1 = {Path.GetFileName(ns[0].Path)}, {ns[0].LbaCount} x {ns[0].LbaSize} B, {io})");
                Console.Out.Flush();
                stop.Wait();
                Console.WriteLine($"scalio target: stopping ({target.Target.ConnectionsAccepted} connections, {target.Commands} commands, " +
                    $"NIC time {target.BusyNanoseconds / 1000} us, {target.Target.TerminationsSent} terminated for malformed PDUs, " +
                    $"{target.Target.HostsRefused} refused by --allow-host; admin commands: {target.Target.AdminCommandSummary()})");
                Console.Out.Flush();
            }

            return 0;
        });
        return cmd;
    }
}
