using System.CommandLine;
using System.Text;
using Scalio.Nvme.Tcp;

namespace Scalio.Cli;

/// <summary>The <c>--allow-host NQN</c> option shared by <c>scalio nvme target</c> and <c>scalio target</c>.</summary>
internal static class HostAllowList
{
    public static Option<string[]> CreateOption() => new("--allow-host")
    {
        Description = "Host NQN allowed to connect (repeatable); any other host's Connect is refused with Connect Invalid Host. Without it any host may connect",
        AllowMultipleArgumentsPerToken = false,
        Arity = ArgumentArity.ZeroOrMore,
    };

    /// <summary>Checks the NQNs; prints one line naming the bad one and returns false.</summary>
    public static bool TryRead(string[]? values, string command, out string[]? hosts)
    {
        hosts = values is { Length: > 0 } ? values : null;
        foreach (string host in hosts ?? [])
        {
            int bytes = Encoding.UTF8.GetByteCount(host);
            if (bytes is 0 or > 223 || !host.StartsWith("nqn.", StringComparison.Ordinal))
            {
                CliErrors.Report($"{command}: --allow-host needs an NQN (nqn.yyyy-mm.reverse-domain:name, at most 223 bytes); got '{host}'.");
                return false;
            }
        }

        return true;
    }

    /// <summary>Prints the warning when any host may connect, and a line per refused Connect.</summary>
    public static void Announce(NvmeTcpTarget target, string command)
    {
        if (target.Options.AllowedHosts is not { Count: > 0 })
        {
            Console.Error.WriteLine($"{command}: warning: no --allow-host given; any host that reaches {target.Options.Endpoint} may connect and read{(command == "scalio target" ? "" : " and write")} the namespaces.");
        }

        target.HostRefused += (host, peer) => Console.Error.WriteLine($"{command}: refused Connect from host '{host}' ({peer?.ToString() ?? "unknown peer"}): not in --allow-host{(command == "scalio target" ? " (nor derived from --auth-token-file)" : "")}");
    }
}
