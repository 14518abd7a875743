using BenchmarkDotNet.Running;

// On demand, not in CI: dotnet run -c Release --project perf/Scalio.Perf -- --filter '*'
// or, the FASTER comparison interleaved in one process: ... -- interleaved-faster [--rounds N] [--seconds S]
if (args.Length > 0 && args[0] == "interleaved-faster") return Scalio.Perf.InterleavedFaster.Run(args);
BenchmarkSwitcher.FromAssembly(typeof(Scalio.Perf.GetBenchmarks).Assembly).Run(args);
return 0;
