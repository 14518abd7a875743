using System.Text;
using Scalio.Checking;

namespace Scalio.Tests.Checking;

public class HistoryJsonTests
{
    private static List<HistoryOperation> Parse(string text) => HistoryJson.Read(new MemoryStream(Encoding.UTF8.GetBytes(text)));

    [Fact]
    public void Round_trip_preserves_every_field()
    {
        HistoryOperation[] ops =
        [
            HistoryOperation.Put(3, "user:1", "v\"quoted\" <&> \\ é", 100, 250),
            HistoryOperation.Get(4, "user:1", null, 120, 130),
            HistoryOperation.Get(4, "user:1", "x", 140, null),
            HistoryOperation.Delete(0, "0x00ff", 150, 9_000_000_000_000),
            HistoryOperation.Put(1, "k", "", 160, null),
        ];
        var stream = new MemoryStream();
        HistoryJson.Write(stream, ops);
        string text = Encoding.UTF8.GetString(stream.ToArray());
        string[] lines = text.Split('\n');
        Assert.Equal(ops.Length + 1, lines.Length); // one object per line, newline-terminated
        Assert.Equal("", lines[^1]);
        Assert.Equal("{\"client\":4,\"op\":\"get\",\"key\":\"user:1\",\"value\":null,\"start\":120,\"end\":130}", lines[1]);

        stream.Position = 0;
        List<HistoryOperation> back = HistoryJson.Read(stream);
        Assert.Equal(ops, back);
    }

    [Fact]
    public void Reader_accepts_spaces_crlf_blank_lines_any_field_order_and_a_bom()
    {
        string text = "\uFEFF{\"client\": 3, \"op\": \"get\", \"key\": \"k\", \"value\": \"v\", \"start\": 1, \"end\": 2}\r\n\r\n"
            + "{\"end\": null, \"start\": 5, \"value\": null, \"key\": \"k\", \"op\": \"delete\", \"client\": 0}";
        List<HistoryOperation> ops = Parse(text);
        Assert.Equal(2, ops.Count);
        Assert.Equal(HistoryOperation.Get(3, "k", "v", 1, 2), ops[0]);
        Assert.Equal(HistoryOperation.Delete(0, "k", 5, null), ops[1]);
    }

    [Theory]
    [InlineData("{\"client\":1,\"op\":\"cas\",\"key\":\"k\",\"value\":null,\"start\":1,\"end\":2}", "unknown op 'cas'")]
    [InlineData("{\"client\":1,\"op\":\"get\",\"key\":\"k\",\"value\":null,\"start\":1}", "missing field 'end'")]
    [InlineData("{\"client\":1,\"op\":\"get\",\"value\":null,\"start\":1,\"end\":2}", "missing field 'key'")]
    [InlineData("{\"client\":1,\"op\":\"get\",\"key\":\"k\",\"value\":null,\"start\":5,\"end\":2}", "end 2 is before start 5")]
    [InlineData("{\"client\":1,\"op\":\"put\",\"key\":\"k\",\"value\":null,\"start\":1,\"end\":2}", "put needs a string value")]
    [InlineData("{\"client\":1,\"op\":\"delete\",\"key\":\"k\",\"value\":\"v\",\"start\":1,\"end\":2}", "delete must have")]
    [InlineData("{\"client\":-1,\"op\":\"get\",\"key\":\"k\",\"value\":null,\"start\":1,\"end\":2}", "'client' must be")]
    [InlineData("{\"client\":1,\"op\":\"get\",\"key\":\"k\",\"value\":null,\"start\":1.5,\"end\":2}", "'start' must be")]
    [InlineData("{\"client\":1,\"op\":\"get\",\"key\":\"k\",\"value\":7,\"start\":1,\"end\":2}", "'value' must be")]
    [InlineData("{\"client\":1,\"op\":\"get\",\"key\":\"k\",\"value\":null,\"start\":1,\"end\":2,\"extra\":0}", "unknown field 'extra'")]
    [InlineData("{\"client\":1,\"client\":2,\"op\":\"get\",\"key\":\"k\",\"value\":null,\"start\":1,\"end\":2}", "duplicate field 'client'")]
    [InlineData("{\"client\":1,\"op\":\"get\",\"key\":\"k\",\"value\":null,\"start\":1,\"end\":2} x", "invalid JSON")]
    [InlineData("[1,2]", "expected a JSON object")]
    [InlineData("{\"client\":1,\"op\":\"get\"", "invalid JSON")]
    public void Malformed_lines_give_line_numbered_errors(string badLine, string expected)
    {
        string good = "{\"client\":0,\"op\":\"put\",\"key\":\"k\",\"value\":\"v\",\"start\":0,\"end\":1}";
        string text = good + "\n\n" + good + "\n" + badLine + "\n" + good + "\n";
        var e = Assert.Throws<HistoryFormatException>(() => Parse(text));
        Assert.Equal(4, e.LineNumber);
        Assert.StartsWith("line 4: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void File_helpers_round_trip()
    {
        string path = Path.Combine(Path.GetTempPath(), "scalio-history-" + Guid.NewGuid().ToString("N") + ".jsonl");
        try
        {
            HistoryOperation[] ops = [HistoryOperation.Put(0, "a", "b", 1, 2), HistoryOperation.Get(1, "a", "b", 3, 4)];
            HistoryJson.WriteFile(path, ops);
            Assert.Equal(ops, HistoryJson.ReadFile(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void HistoryText_keeps_printable_ascii_and_hexes_the_rest()
    {
        Assert.Equal("user:42", HistoryText.FromBytes("user:42"u8));
        Assert.Equal("", HistoryText.FromBytes([]));
        Assert.Equal("0x00ff41", HistoryText.FromBytes([0x00, 0xFF, 0x41]));
        Assert.Equal("0xc3a9", HistoryText.FromBytes("é"u8)); // UTF-8 beyond ASCII is hex
        Assert.Equal("0x0a", HistoryText.FromBytes("\n"u8)); // control characters are hex
        Assert.Equal("0x30786869", HistoryText.FromBytes("0xhi"u8)); // text that looks like hex is hexed: one-to-one

        foreach (byte[] bytes in new[] { "abc"u8.ToArray(), new byte[] { 0, 1, 2 }, "0x12"u8.ToArray(), Array.Empty<byte>() })
        {
            Assert.Equal(bytes, HistoryText.ToBytes(HistoryText.FromBytes(bytes)));
        }
    }
}
