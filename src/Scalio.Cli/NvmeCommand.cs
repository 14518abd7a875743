using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using Scalio.Nvme;
using Scalio.Nvme.Tcp;

namespace Scalio.Cli;

/// <summary><c>scalio nvme</c>: SQE encoder, NVMe/TCP initiator commands and an NVMe/TCP target.</summary>
internal static class NvmeCommand
{
    public static Command Create()
    {
        var cmd = new Command("nvme", "NVMe tools: encode SQEs, talk to an NVMe/TCP target, or run one");
        cmd.Subcommands.Add(CreateEncode());
        foreach (string op in new[] { "identify", "read", "write", "flush" })
        {
            cmd.Subcommands.Add(CreateInitiator(op));
        }

        cmd.Subcommands.Add(CreateTarget());
        return cmd;
    }

    private static Command CreateEncode()
    {
        var cmd = new Command("encode", "Print the 64-byte submission queue entry of a Read, Write or Flush as hex, 16 bytes a line");
        foreach (string op in new[] { "read", "write", "flush" })
        {
            var nsid = new Option<uint>("--nsid") { Description = "Namespace identifier (decimal or 0x hex)", DefaultValueFactory = _ => 1, CustomParser = r => (uint)ParseNumber(r, uint.MaxValue) };
            var slba = new Option<ulong>("--slba") { Description = "Starting LBA (decimal or 0x hex)", DefaultValueFactory = _ => 0, CustomParser = r => ParseNumber(r, ulong.MaxValue) };
            var blocks = new Option<int>("--blocks") { Description = "Number of blocks (the SQE carries NLB = blocks - 1)", DefaultValueFactory = _ => 1 };
            var cid = new Option<ushort>("--cid") { Description = "Command identifier (decimal or 0x hex)", DefaultValueFactory = _ => 0, CustomParser = r => (ushort)ParseNumber(r, ushort.MaxValue) };
            var fua = new Option<bool>("--fua") { Description = "Set Force Unit Access" };
            var sub = new Command(op, $"Encode an NVMe {op} command") { nsid, cid };
            if (op != "flush")
            {
                sub.Options.Add(slba);
                sub.Options.Add(blocks);
                sub.Options.Add(fua);
            }

            string name = op;
            sub.SetAction(parse =>
            {
                TextWriter output = parse.InvocationConfiguration.Output;
                TextWriter error = parse.InvocationConfiguration.Error;
                Span<byte> sqe = stackalloc byte[SubmissionQueueEntry.WireSize];
                int n = parse.GetValue(blocks);
                if (name != "flush" && n is < 1 or > 65536)
                {
                    CliErrors.Report(error, $"--blocks must be 1..65536 (NLB is a zero-based 16-bit field); got {n}.");
                    return 2;
                }

                switch (name)
                {
                    case "read":
                        new NvmeReadCommand { CommandId = parse.GetValue(cid), Nsid = parse.GetValue(nsid), StartingLba = parse.GetValue(slba), BlockCountZeroBased = (ushort)(n - 1), ForceUnitAccess = parse.GetValue(fua) }.WriteTo(sqe);
                        break;
                    case "write":
                        new NvmeWriteCommand { CommandId = parse.GetValue(cid), Nsid = parse.GetValue(nsid), StartingLba = parse.GetValue(slba), BlockCountZeroBased = (ushort)(n - 1), ForceUnitAccess = parse.GetValue(fua) }.WriteTo(sqe);
                        break;
                    default:
                        new NvmeFlushCommand { CommandId = parse.GetValue(cid), Nsid = parse.GetValue(nsid) }.WriteTo(sqe);
                        break;
                }

                output.Write(Hex(sqe));
                return 0;
            });
            cmd.Subcommands.Add(sub);
        }

        return cmd;
    }

    /// <summary>Hex, 16 bytes a line, bytes separated by spaces.</summary>
    internal static string Hex(ReadOnlySpan<byte> data)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < data.Length; i++)
        {
            sb.Append(data[i].ToString("x2", CultureInfo.InvariantCulture));
            sb.Append(i % 16 == 15 || i == data.Length - 1 ? '\n' : ' ');
        }

        return sb.ToString();
    }

    private static Command CreateInitiator(string op)
    {
        var addr = new Option<string>("--addr") { Description = "Target address", Required = true };
        var port = new Option<int>("--port") { Description = "Target TCP port", DefaultValueFactory = _ => 4420 };
        var subnqn = new Option<string>("--subnqn") { Description = "Subsystem NQN", Required = true };
        var hostnqn = new Option<string?>("--hostnqn") { Description = "Host NQN (default: a UUID-based NQN)" };
        var nsid = new Option<uint>("--nsid") { Description = "Namespace identifier (decimal or 0x hex)", DefaultValueFactory = _ => 1, CustomParser = r => (uint)ParseNumber(r, uint.MaxValue) };
        var slba = new Option<ulong>("--slba") { Description = "Starting LBA (decimal or 0x hex)", DefaultValueFactory = _ => 0, CustomParser = r => ParseNumber(r, ulong.MaxValue) };
        var blocks = new Option<int>("--blocks") { Description = "Number of blocks", DefaultValueFactory = _ => 1 };
        var inFile = new Option<string?>("--in") { Description = "write: file with the data (at least blocks x LBA size bytes)" };
        var outFile = new Option<string?>("--out") { Description = "read: file to store the data (default: hex on stdout)" };
        var hdgst = new Option<bool>("--hdgst") { Description = "Request header digests" };
        var ddgst = new Option<bool>("--ddgst") { Description = "Request data digests" };
        var timeout = new Option<double>("--timeout") { Description = "Seconds allowed for the whole operation", DefaultValueFactory = _ => 60 };
        string description = op switch
        {
            "identify" => "Identify the controller and a namespace of an NVMe/TCP target",
            "read" => "Read blocks from an NVMe/TCP target",
            "write" => "Write blocks from a file to an NVMe/TCP target",
            _ => "Flush a namespace of an NVMe/TCP target",
        };
        var cmd = new Command(op, description) { addr, port, subnqn, hostnqn, nsid, hdgst, ddgst, timeout };
        if (op is "read" or "write")
        {
            cmd.Options.Add(slba);
            cmd.Options.Add(blocks);
        }

        if (op == "read")
        {
            cmd.Options.Add(outFile);
        }

        if (op == "write")
        {
            cmd.Options.Add(inFile);
        }

        cmd.SetAction(async (parse, ct) =>
        {
            TextWriter output = parse.InvocationConfiguration.Output;
            TextWriter error = parse.InvocationConfiguration.Error;
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(TimeSpan.FromSeconds(parse.GetValue(timeout)));
            try
            {
                var options = new NvmeTcpInitiatorOptions
                {
                    HostNqn = parse.GetValue(hostnqn),
                    HeaderDigest = parse.GetValue(hdgst),
                    DataDigest = parse.GetValue(ddgst),
                };
                await using NvmeTcpInitiator nvme = await NvmeTcpInitiator.ConnectAsync(parse.GetValue(addr)!, parse.GetValue(port), parse.GetValue(subnqn)!, options, cts.Token);
                uint ns = parse.GetValue(nsid);
                switch (op)
                {
                    case "identify":
                        NvmeTcpControllerInfo c = nvme.Controller;
                        output.WriteLine($"controller {c.ControllerId}: model '{c.ModelNumber}', serial '{c.SerialNumber}', firmware '{c.FirmwareRevision}', NVMe {c.Version >> 16}.{(c.Version >> 8) & 0xFF}");
                        output.WriteLine($"subsystem {c.SubsystemNqn}, {c.NamespaceCount} namespace(s), MDTS {c.Mdts}, in-capsule data {c.InCapsuleDataSize} B, digests header={nvme.HeaderDigest} data={nvme.DataDigest}");
                        IdentifyNamespaceSummary s = await nvme.IdentifyNamespaceAsync(ns, cts.Token);
                        output.WriteLine($"namespace {ns}: {s.Size} blocks of {s.LbaSize} B ({s.Size * (ulong)s.LbaSize} bytes), capacity {s.Capacity}, utilization {s.Utilization}");
                        break;
                    case "read":
                    {
                        IdentifyNamespaceSummary info = await nvme.IdentifyNamespaceAsync(ns, cts.Token);
                        byte[] data = GC.AllocateArray<byte>(checked(parse.GetValue(blocks) * info.LbaSize), pinned: true);
                        await nvme.ReadAsync(ns, parse.GetValue(slba), parse.GetValue(blocks), data, cts.Token);
                        string? path = parse.GetValue(outFile);
                        if (path is null)
                        {
                            output.Write(Hex(data));
                        }
                        else
                        {
                            await File.WriteAllBytesAsync(path, data, cts.Token);
                            output.WriteLine($"read {data.Length} bytes from nsid {ns} slba {parse.GetValue(slba)} into {path}");
                        }

                        break;
                    }

                    case "write":
                    {
                        string? path = parse.GetValue(inFile);
                        if (path is null)
                        {
                            CliErrors.Report(error, "write needs --in FILE with the data.");
                            return 2;
                        }

                        IdentifyNamespaceSummary info = await nvme.IdentifyNamespaceAsync(ns, cts.Token);
                        int bytes = checked(parse.GetValue(blocks) * info.LbaSize);
                        byte[] file = await File.ReadAllBytesAsync(path, cts.Token);
                        if (file.Length < bytes)
                        {
                            CliErrors.Report(error, $"{path} has {file.Length} bytes; {parse.GetValue(blocks)} blocks of {info.LbaSize} B need {bytes}.");
                            return 2;
                        }

                        await nvme.WriteAsync(ns, parse.GetValue(slba), parse.GetValue(blocks), file.AsMemory(0, bytes), cts.Token);
                        output.WriteLine($"wrote {bytes} bytes to nsid {ns} slba {parse.GetValue(slba)} ({(bytes <= nvme.InCapsuleDataSize ? "in-capsule" : "R2T")})");
                        break;
                    }

                    default:
                        await nvme.FlushAsync(ns, cts.Token);
                        output.WriteLine($"flushed nsid {ns}");
                        break;
                }

                return 0;
            }
            catch (Exception e) when (e is NvmeTcpException or NvmeCommandException or ArgumentException or IOException or OperationCanceledException or UnauthorizedAccessException)
            {
                CliErrors.Report(error, $"nvme {op}: {e.Message}");
                return 1;
            }
        });
        return cmd;
    }

    private static Command CreateTarget()
    {
        var listen = new Option<string>("--listen") { Description = "Address and port to listen on, e.g. 127.0.0.1:4420", DefaultValueFactory = _ => "127.0.0.1:4420" };
        var dataDir = new Option<string?>("--data-dir") { Description = "Serve a file-backed namespace (nvme-ns1.img) in this directory" };
        var ramMib = new Option<int>("--ram-mib") { Description = "Size of the namespace in MiB (RAM-backed unless --data-dir)", DefaultValueFactory = _ => 64 };
        var lbaSize = new Option<int>("--lba-size") { Description = "Logical block size: 512 or 4096", DefaultValueFactory = _ => 512 };
        var subnqn = new Option<string>("--subnqn") { Description = "Subsystem NQN", DefaultValueFactory = _ => "nqn.2024-01.io.scalio:nvme-tcp" };
        Option<string[]> allowHost = HostAllowList.CreateOption();
        var cmd = new Command("target", "Serve a namespace over NVMe/TCP (software target) until Ctrl-C or SIGTERM") { listen, dataDir, ramMib, lbaSize, subnqn, allowHost };
        cmd.SetAction(parse =>
        {
            string text = parse.GetValue(listen)!;
            if (!IPEndPoint.TryParse(text, out IPEndPoint? endpoint) || endpoint.Port == 0 && !text.EndsWith(":0", StringComparison.Ordinal))
            {
                CliErrors.Report($"--listen needs ADDRESS:PORT, e.g. 127.0.0.1:4420; got '{text}'.");
                return 2;
            }

            int lba = parse.GetValue(lbaSize);
            int mib = parse.GetValue(ramMib);
            if (lba is not (512 or 4096) || mib < 1)
            {
                CliErrors.Report("--lba-size must be 512 or 4096 and --ram-mib at least 1.");
                return 2;
            }

            if (!HostAllowList.TryRead(parse.GetValue(allowHost), "nvme target", out string[]? hosts))
            {
                return 2;
            }

            ulong blocks = (ulong)mib * 1024 * 1024 / (ulong)lba;
            string? dir = parse.GetValue(dataDir);
            NvmeNamespace ns;
            try
            {
                if (dir is null)
                {
                    ns = new RamNamespace(1, lba, blocks);
                }
                else
                {
                    Directory.CreateDirectory(dir);
                    ns = FileNamespace.Open(Path.Combine(dir, "nvme-ns1.img"), 1, lba, blocks);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                CliErrors.Report($"nvme target: cannot create the namespace: {e.Message}");
                return 2;
            }

            using (ns)
            {
                using var target = new NvmeTcpTarget(new NvmeTcpTargetOptions { Endpoint = endpoint, SubsystemNqn = parse.GetValue(subnqn)!, AllowedHosts = hosts }, [ns]);
                HostAllowList.Announce(target, "nvme target");
                try
                {
                    target.Start();
                }
                catch (System.Net.Sockets.SocketException e)
                {
                    CliErrors.Report($"nvme target: cannot listen on {endpoint}: {e.Message}");
                    return 2;
                }

                using var stop = new ManualResetEventSlim();
                using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Set(); });
                using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Set(); });
                Console.WriteLine($"nvme target ready: listening on {target.Endpoint}, subsystem {target.Options.SubsystemNqn}, nsid 1 = {ns.LbaCount} x {ns.LbaSize} B ({(dir is null ? "RAM" : "file in " + dir)})");
                Console.Out.Flush();
                stop.Wait();
                Console.WriteLine($"nvme target: stopping ({target.ConnectionsAccepted} connections served, {target.TerminationsSent} terminated for malformed PDUs, " +
                    $"{target.HostsRefused} refused by --allow-host; admin commands: {target.AdminCommandSummary()})");
            }

            return 0;
        });
        return cmd;
    }

    /// <summary>Parses a decimal or 0x-prefixed hexadecimal number as nvme-cli accepts them; errors name the option.</summary>
    private static ulong ParseNumber(System.CommandLine.Parsing.ArgumentResult result, ulong max)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        bool hex = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        bool ok = hex
            ? ulong.TryParse(text.AsSpan(2), System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out ulong value)
            : ulong.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value);
        if (!ok || value > max)
        {
            result.AddError($"'{text}' is not a number from 0 to {max} (decimal or 0x hex)");
            return 0;
        }
        return value;
    }
}
