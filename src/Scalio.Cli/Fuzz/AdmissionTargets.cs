using System.Buffers.Binary;
using System.Net;
using Scalio.Verbs.Libfabric;

namespace Scalio.Cli.Fuzz;

/// <summary>A stream whose reads come from one fuzz input and whose writes go nowhere: one side of the side channel.</summary>
internal sealed class ScriptedStream(byte[] input) : Stream
{
    private int _position;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n = Math.Min(buffer.Length, input.Length - _position);
        input.AsSpan(_position, n).CopyTo(buffer);
        _position += n;
        return n;
    }

    public override void Write(byte[] buffer, int offset, int count) { }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}

/// <summary>The server judging a client's admission answer (<see cref="BootstrapAdmission"/>): a refusal is
/// <see cref="BootstrapRefusedException"/>, a malformed or short answer <see cref="InvalidDataException"/> or <see cref="IOException"/>.</summary>
internal sealed class AdmissionAnswerTarget : FuzzTarget
{
    private static readonly AuthToken Writer = AuthToken.FromBytes("fuzz-writer-token-0123456789"u8);
    private static readonly AuthToken Reader = AuthToken.FromBytes("fuzz-reader-token-0123456789"u8);

    public override string Name => "admission-answer";

    public override string Contract => "BootstrapAdmission.AdmitAsync throws BootstrapRefusedException, InvalidDataException or IOException";

    public override IReadOnlyList<byte[]> Seeds(Random r)
    {
        // Well-formed answers with and without a proof; the server's nonce is fresh per run, so no seed proves a token.
        var list = new List<byte[]>();
        for (int flags = 0; flags <= 1; flags++)
        {
            var answer = new byte[BootstrapAdmission.AnswerSize];
            BinaryPrimitives.WriteUInt32LittleEndian(answer, BootstrapAdmission.Magic);
            answer[4] = (byte)flags;
            r.NextBytes(answer.AsSpan(8));
            list.Add(answer);
        }
        return list;
    }

    public override bool Decode(byte[] input)
    {
        // Open servers admit any well-formed answer; token servers (one in two inputs) must refuse every one here.
        bool open = input.Length > 0 && (input[^1] & 1) == 0;
        var role = BootstrapAdmission.AdmitAsync(new ScriptedStream(input), open ? null : Writer, open ? null : Reader, null, CancellationToken.None)
            .GetAwaiter().GetResult();
        if (!open) throw new InvalidOperationException($"a token server admitted a forged answer as {role}");
        return true;
    }

    public override bool IsRejection(Exception e) => e is BootstrapRefusedException or InvalidDataException or IOException;
}

/// <summary>The client reading the server's challenge and verdict (<see cref="BootstrapAdmission"/>): a refusal is
/// <see cref="BootstrapRefusedException"/>, anything else bad <see cref="InvalidDataException"/> or <see cref="IOException"/>.</summary>
internal sealed class AdmissionVerdictTarget : FuzzTarget
{
    private static readonly AuthToken Token = AuthToken.FromBytes("fuzz-client-token-0123456789"u8);
    private static readonly EndPoint Server = new IPEndPoint(IPAddress.Loopback, 1);

    public override string Name => "admission-verdict";

    public override string Contract => "BootstrapAdmission.Prove throws BootstrapRefusedException, InvalidDataException or IOException";

    public override IReadOnlyList<byte[]> Seeds(Random r)
    {
        var list = new List<byte[]>();
        for (int required = 0; required <= 1; required++)
        {
            for (byte verdict = 0; verdict <= 3; verdict++)
            {
                var bytes = new byte[BootstrapAdmission.ChallengeSize + BootstrapAdmission.VerdictSize];
                BinaryPrimitives.WriteUInt32LittleEndian(bytes, BootstrapAdmission.Magic);
                bytes[4] = 1; // version
                bytes[5] = (byte)required;
                r.NextBytes(bytes.AsSpan(8, 32));
                bytes[BootstrapAdmission.ChallengeSize] = verdict;
                list.Add(bytes);
            }
        }
        return list;
    }

    public override bool Decode(byte[] input)
    {
        // With a token the client must refuse every verdict here: no input can carry the server's proof of a fresh nonce.
        bool withToken = input.Length > 0 && (input[^1] & 1) == 1;
        var role = BootstrapAdmission.Prove(new ScriptedStream(input), withToken ? Token : null, Server);
        if (withToken) throw new InvalidOperationException($"the client accepted a forged server proof ({role})");
        return true;
    }

    public override bool IsRejection(Exception e) => e is BootstrapRefusedException or InvalidDataException or IOException;
}
