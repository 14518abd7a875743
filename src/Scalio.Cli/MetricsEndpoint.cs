using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Scalio.Cli;

/// <summary>
/// <c>scalio server --metrics ADDR:PORT</c>: serves the instruments of the <c>Scalio.*</c> meters in the Prometheus text
/// exposition format (version 0.0.4) at <c>GET /metrics</c>, over a minimal HTTP/1.1 server (one request per
/// connection, answered on the accept thread: scrapes are rare, and nothing here touches the store's hot path).
/// Read-only, no authentication: it binds loopback unless given another address.
/// </summary>
internal sealed class MetricsEndpoint : IDisposable
{
    private readonly Socket _listener;
    private readonly MeterListener _meters = new();
    private readonly Thread _thread;
    private readonly object _gate = new();
    private readonly Dictionary<string, Family> _families = new(StringComparer.Ordinal);
    private readonly List<Family> _order = [];
    private readonly StringBuilder _text = new(4096);
    private readonly byte[] _request = new byte[4096];
    private volatile bool _stopping;
    private long _scrapes;

    private sealed class Family(string name, string type, string help)
    {
        public readonly string Name = name, Type = type, Help = help;
        public readonly List<(string Labels, double Value)> Samples = [];
    }

    private MetricsEndpoint(Socket listener)
    {
        _listener = listener;
        _meters.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name.StartsWith("Scalio.", StringComparison.Ordinal)) l.EnableMeasurementEvents(instrument);
        };
        _meters.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
        _meters.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
        _meters.Start();
        _thread = new Thread(Serve) { IsBackground = true, Name = "scalio-metrics" };
        _thread.Start();
    }

    /// <summary>Parses <c>--metrics</c>: <c>PORT</c> (on 127.0.0.1) or <c>ADDRESS:PORT</c>.</summary>
    public static IPEndPoint Parse(string text)
    {
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int port) && port <= 65535)
            return new IPEndPoint(IPAddress.Loopback, port); // a bare port stays on loopback: the endpoint has no authentication
        if (IPEndPoint.TryParse(text, out var ep) && text.Contains(':', StringComparison.Ordinal)) return ep;
        throw new FormatException($"--metrics '{text}' is not PORT or ADDRESS:PORT (e.g. 127.0.0.1:9464)");
    }

    /// <summary>Binds <paramref name="endPoint"/> (port 0 picks one) and starts serving.</summary>
    /// <exception cref="SocketException">The address cannot be bound.</exception>
    public static MetricsEndpoint Start(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(endPoint);
            socket.Listen(16);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new MetricsEndpoint(socket);
    }

    /// <summary>The bound address.</summary>
    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    /// <summary>Scrapes answered.</summary>
    public long Scrapes => Interlocked.Read(ref _scrapes);

    /// <summary>The exposition text of all Scalio instruments now.</summary>
    public string Collect()
    {
        lock (_gate)
        {
            foreach (var f in _order) f.Samples.Clear();
            _meters.RecordObservableInstruments();
            _text.Clear();
            foreach (var f in _order)
            {
                if (f.Samples.Count == 0) continue;
                _text.Append("# HELP ").Append(f.Name).Append(' ').Append(EscapeHelp(f.Help)).Append('\n');
                _text.Append("# TYPE ").Append(f.Name).Append(' ').Append(f.Type).Append('\n');
                foreach (var (labels, value) in f.Samples)
                {
                    _text.Append(f.Name).Append(labels).Append(' ');
                    if (value == Math.Floor(value) && Math.Abs(value) < 1e15) _text.Append((long)value);
                    else _text.Append(value.ToString("R", CultureInfo.InvariantCulture));
                    _text.Append('\n');
                }
            }
            return _text.ToString();
        }
    }

    private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        // Called from RecordObservableInstruments, under _gate.
        if (!_families.TryGetValue(instrument.Name, out var family))
        {
            bool counter = instrument is ObservableCounter<long> or ObservableCounter<double> or Counter<long> or Counter<double>;
            family = new Family(PrometheusName(instrument.Name, instrument.Unit, counter), counter ? "counter" : "gauge",
                instrument.Description ?? instrument.Name);
            _families.Add(instrument.Name, family);
            _order.Add(family);
        }
        family.Samples.Add((Labels(tags), value));
    }

    /// <summary>OpenTelemetry's Prometheus naming: dots to underscores, the unit as a suffix (s: seconds, By: bytes; {annotations} dropped), counters end in _total.</summary>
    internal static string PrometheusName(string name, string? unit, bool counter)
    {
        var b = new StringBuilder(name.Length + 16);
        foreach (char c in name) b.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
        string? suffix = unit switch { "s" => "seconds", "By" => "bytes", _ => null };
        if (suffix is not null) b.Append('_').Append(suffix);
        if (counter) b.Append("_total");
        return b.ToString();
    }

    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.IsEmpty) return "";
        var b = new StringBuilder("{");
        for (int i = 0; i < tags.Length; i++)
        {
            if (i > 0) b.Append(',');
            foreach (char c in tags[i].Key) b.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
            b.Append("=\"");
            foreach (char c in Convert.ToString(tags[i].Value, CultureInfo.InvariantCulture) ?? "")
            {
                if (c is '\\' or '"') b.Append('\\').Append(c);
                else if (c == '\n') b.Append("\\n");
                else b.Append(c);
            }
            b.Append('"');
        }
        return b.Append('}').ToString();
    }

    private static string EscapeHelp(string help) => help.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private void Serve()
    {
        while (!_stopping)
        {
            Socket client;
            try
            {
                client = _listener.Accept();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                if (_stopping) return;
                continue;
            }
            using (client)
            {
                try
                {
                    Answer(client);
                }
                catch (Exception e) when (e is SocketException or IOException)
                {
                    // The scraper went away or stalled past the timeout: nothing to answer.
                }
            }
        }
    }

    private void Answer(Socket client)
    {
        client.ReceiveTimeout = 2000; // a silent peer must not hold the (only) serving thread
        client.SendTimeout = 2000;
        int n = 0;
        while (n < _request.Length)
        {
            int r = client.Receive(_request, n, _request.Length - n, SocketFlags.None);
            if (r == 0) return;
            n += r;
            if (_request.AsSpan(0, n).IndexOf("\r\n\r\n"u8) >= 0) break;
        }
        var head = _request.AsSpan(0, n);
        int eol = head.IndexOf("\r\n"u8);
        string line = Encoding.ASCII.GetString(eol >= 0 ? head[..eol] : head);
        string[] parts = line.Split(' ');
        string status, type = "text/plain; charset=utf-8", extra = "";
        string body;
        if (parts.Length != 3 || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            (status, body) = ("400 Bad Request", "bad request\n");
        }
        else if (parts[0] != "GET" && parts[0] != "HEAD")
        {
            (status, body, extra) = ("405 Method Not Allowed", "only GET\n", "Allow: GET, HEAD\r\n");
        }
        else if (parts[1] != "/metrics" && !parts[1].StartsWith("/metrics?", StringComparison.Ordinal))
        {
            (status, body) = ("404 Not Found", "only /metrics\n");
        }
        else
        {
            (status, body, type) = ("200 OK", Collect(), "text/plain; version=0.0.4; charset=utf-8");
            Interlocked.Increment(ref _scrapes);
        }
        byte[] payload = Encoding.UTF8.GetBytes(body);
        string header = $"HTTP/1.1 {status}\r\nContent-Type: {type}\r\nContent-Length: {payload.Length}\r\n{extra}Connection: close\r\n\r\n";
        client.Send(Encoding.ASCII.GetBytes(header));
        if (parts.Length == 3 && parts[0] != "HEAD") client.Send(payload);
        client.Shutdown(SocketShutdown.Send);
    }

    /// <summary>Stops serving and unsubscribes from the meters.</summary>
    public void Dispose()
    {
        _stopping = true;
        _listener.Dispose(); // wakes Accept
        _thread.Join(TimeSpan.FromSeconds(5));
        _meters.Dispose();
    }
}
