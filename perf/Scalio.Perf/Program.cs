using BenchmarkDotNet.Running;

// On demand, not in CI: dotnet run -c Release --project perf/Scalio.Perf -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Scalio.Perf.GetBenchmarks).Assembly).Run(args);
