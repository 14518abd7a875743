using System.CommandLine;
using Scalio.Cli;

namespace Scalio.Tests.NvmeTcp;

/// <summary><c>scalio nvme ...</c> run in-process through the command object against the test target.</summary>
public sealed class CliTests
{
    private static async Task<(int Exit, string Output, string Error)> Cli(params string[] args)
    {
        var root = new RootCommand { NvmeCommand.Create() };
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = await root.Parse(["nvme", .. args]).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        return (exit, output.ToString(), error.ToString());
    }

    [Fact] // NVM Command Set 1.0 §3.2.4: --blocks 8 becomes NLB 7 in CDW12; 16 bytes a line
    public async Task Encode_prints_the_sqe_16_bytes_a_line()
    {
        var (exit, output, _) = await Cli("encode", "read", "--nsid", "1", "--slba", "4096", "--blocks", "8", "--cid", "3");
        Assert.Equal(0, exit);
        Assert.Equal(
            "02 00 03 00 01 00 00 00 00 00 00 00 00 00 00 00\n" +
            "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00\n" +
            "00 00 00 00 00 00 00 00 00 10 00 00 00 00 00 00\n" +
            "07 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00\n",
            output);
        Assert.StartsWith("01 00 03 00", (await Cli("encode", "write", "--blocks", "1", "--cid", "3")).Output);
        Assert.StartsWith("00 00 09 00 02 00 00 00", (await Cli("encode", "flush", "--nsid", "2", "--cid", "9")).Output);
        Assert.Equal(2, (await Cli("encode", "read", "--blocks", "0")).Exit);
    }

    [Fact] // nvme-cli takes numbers in decimal or 0x hex; the same SQE either way
    public async Task Encode_accepts_hex_numbers_like_nvme_cli_and_refuses_out_of_range_ones()
    {
        var dec = await Cli("encode", "read", "--nsid", "1", "--slba", "4096", "--blocks", "8", "--cid", "3");
        var hex = await Cli("encode", "read", "--nsid", "0x1", "--slba", "0x1000", "--blocks", "8", "--cid", "0X3");
        Assert.Equal(0, hex.Exit);
        Assert.Equal(dec.Output, hex.Output);
        var tooBig = await Cli("encode", "read", "--cid", "0x10000");
        Assert.NotEqual(0, tooBig.Exit);
        Assert.Contains("0 to 65535", tooBig.Error);
        Assert.NotEqual(0, (await Cli("encode", "read", "--slba", "0xZZ")).Exit);
    }

    [Fact]
    public async Task Identify_write_read_flush_against_the_target()
    {
        using var fx = new TargetFixture();
        string[] at = ["--addr", "127.0.0.1", "--port", fx.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--subnqn", TargetFixture.Nqn];
        string input = Path.Combine(Path.GetTempPath(), $"scalio-nvme-in-{Guid.NewGuid():N}.bin");
        string output = Path.Combine(Path.GetTempPath(), $"scalio-nvme-out-{Guid.NewGuid():N}.bin");
        try
        {
            var id = await Cli(["identify", .. at, "--nsid", "1"]);
            Assert.True(id.Exit == 0, id.Error);
            Assert.Contains("namespace 1: 8192 blocks of 512 B", id.Output);
            Assert.Contains(TargetFixture.Nqn, id.Output);

            byte[] data = new byte[64 * 512];
            new Random(9).NextBytes(data);
            await File.WriteAllBytesAsync(input, data);
            var write = await Cli(["write", .. at, "--slba", "16", "--blocks", "64", "--in", input, "--hdgst", "--ddgst"]);
            Assert.True(write.Exit == 0, write.Error);
            Assert.Contains("R2T", write.Output);
            var read = await Cli(["read", .. at, "--slba", "16", "--blocks", "64", "--out", output]);
            Assert.True(read.Exit == 0, read.Error);
            Assert.Equal(data, await File.ReadAllBytesAsync(output));
            Assert.Equal(0, (await Cli(["flush", .. at])).Exit);

            var wrong = await Cli("identify", "--addr", "127.0.0.1", "--port", at[3], "--subnqn", "nqn.2024-01.io.scalio:nope");
            Assert.Equal(1, wrong.Exit);
            Assert.Contains("Connect", wrong.Error);
        }
        finally
        {
            File.Delete(input);
            File.Delete(output);
        }
    }
}
