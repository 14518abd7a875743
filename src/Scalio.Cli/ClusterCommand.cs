using System.CommandLine;
using System.Globalization;
using Scalio.Cluster;

namespace Scalio.Cli;

/// <summary><c>scalio cluster status|add|remove|verify --cluster etcd://HOST:PORT</c>: the sharded cluster's map in etcd.</summary>
internal static class ClusterCommand
{
    internal static Option<string> EtcdOption(bool required) => new("--cluster") { Description = "etcd holding the cluster map: etcd://HOST:PORT", Required = required };

    internal static Option<string> NameOption() => new("--cluster-name") { Description = "Cluster name (etcd key prefix /scalio/NAME/)", DefaultValueFactory = _ => "default" };

    public static Command Create()
    {
        var cmd = new Command("cluster", "Show or change the sharded cluster's map in etcd (servers register with 'scalio server ... --cluster etcd://HOST:PORT --id N')");
        cmd.Subcommands.Add(Status());
        cmd.Subcommands.Add(Change("add", "Add a registered server: the keys it will own are copied to it from their owners while clients run, then the map makes it active; prints 'keys moved: X of Y (Z%)'"));
        cmd.Subcommands.Add(Change("remove", "Remove a server: its keys are copied to their next owners while clients run, then the map drops it; prints 'keys moved: X of Y (Z%)'"));
        cmd.Subcommands.Add(ClusterVerify.Create());
        return cmd;
    }

    /// <summary>Opens the etcd client or says in one line why not (null).</summary>
    internal static EtcdCluster? Open(string endpoint, string name)
    {
        try
        {
            return new EtcdCluster(endpoint, name);
        }
        catch (FormatException e)
        {
            CliErrors.Report(e.Message);
            return null;
        }
    }

    private static Command Status()
    {
        var etcd = EtcdOption(true);
        var name = NameOption();
        var cmd = new Command("status", "Print the map and the registered servers") { etcd, name };
        cmd.SetAction(parse =>
        {
            using var c = Open(parse.GetValue(etcd)!, parse.GetValue(name)!);
            if (c is null) return 2;
            try
            {
                var (map, rev) = c.ReadMap();
                Console.WriteLine($"map {map} (etcd mod revision {rev})");
                var regs = c.ReadRegistrations();
                Console.WriteLine("registered: " + (regs.Count == 0 ? "none" : string.Join(", ", regs.Select(r => $"{r.Id}@{r.Address}"))));
                return 0;
            }
            catch (Exception e) when (e is Grpc.Core.RpcException or InvalidDataException)
            {
                return CliErrors.Fail($"cluster status: etcd at {c.Endpoint}: {CliErrors.OneLine(e)}");
            }
        });
        return cmd;
    }

    private static Command Change(string verb, string description)
    {
        var etcd = EtcdOption(true);
        var name = NameOption();
        var id = new Option<int>("--id") { Description = "The server's id", Required = true };
        var timeout = new Option<int>("--timeout-seconds") { Description = "Longest wait for the old owners to copy their moving keys", DefaultValueFactory = _ => 120 };
        var cmd = new Command(verb, description) { etcd, name, id, timeout };
        cmd.SetAction(parse =>
        {
            if (parse.GetValue(id) < 0) return CliErrors.Fail($"cluster {verb}: --id must not be negative");
            if (parse.GetValue(timeout) < 1) return CliErrors.Fail($"cluster {verb}: --timeout-seconds must be at least 1");
            using var c = Open(parse.GetValue(etcd)!, parse.GetValue(name)!);
            if (c is null) return 2;
            try
            {
                var t = TimeSpan.FromSeconds(parse.GetValue(timeout));
                var r = verb == "add" ? ClusterAdmin.Add(c, parse.GetValue(id), t, Console.Out) : ClusterAdmin.Remove(c, parse.GetValue(id), t, Console.Out);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"keys moved: {r.Moved} of {r.Scanned} ({r.MovedFraction * 100:F1}%)"));
                return 0;
            }
            catch (Exception e) when (e is InvalidOperationException or Grpc.Core.RpcException or InvalidDataException)
            {
                return CliErrors.Fail($"cluster {verb}: {CliErrors.OneLine(e)}");
            }
            catch (TimeoutException e)
            {
                CliErrors.Report($"cluster {verb}: {e.Message}");
                return 1;
            }
        });
        return cmd;
    }
}
