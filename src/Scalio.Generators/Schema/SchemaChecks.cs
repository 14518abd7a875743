using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using Microsoft.CodeAnalysis.Diagnostics;
using Scalio.Fast.Cache;
using Scalio.Generators.Helpers;

namespace Scalio.Generators.Schema;

/// <summary>Checks that need more than one schema's symbols: configured limits and duplicates.</summary>
internal static class SchemaChecks
{
    public static SchemaLimits ReadLimits(AnalyzerConfigOptionsProvider options)
    {
        AnalyzerConfigOptions global = options.GlobalOptions;
        SchemaLimits d = SchemaLimits.Default;
        return new SchemaLimits(
            Read(global, "build_property.ScalioMaxKeyBytes", d.MaxKeyBytes, SlotLayout.MaxFieldSize),
            Read(global, "build_property.ScalioMaxValueBytes", d.MaxValueBytes, SlotLayout.MaxFieldSize),
            Read(global, "build_property.ScalioMaxBucketBytes", d.MaxBucketBytes, int.MaxValue / 2));
    }

    private static int Read(AnalyzerConfigOptions options, string key, int fallback, int ceiling)
    {
        if (options.TryGetValue(key, out string? text)
            && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value)
            && value > 0)
        {
            return value < ceiling ? value : ceiling;
        }
        return fallback;
    }

    public static SchemaModel ApplyLimits(SchemaModel model, SchemaLimits limits)
    {
        var added = new List<DiagnosticInfo>();
        LocationInfo? at = model.Location;
        if (model.KeySize > limits.MaxKeyBytes)
        {
            added.Add(new DiagnosticInfo(SchemaDiagnostics.KeyTooLarge.Id, at, Args(model.KeyType, Num(model.KeySize), Num(limits.MaxKeyBytes))));
        }
        if (model.ValueSize > limits.MaxValueBytes)
        {
            added.Add(new DiagnosticInfo(SchemaDiagnostics.ValueTooLarge.Id, at, Args(model.ValueType, Num(model.ValueSize), Num(limits.MaxValueBytes))));
        }
        if (model.SlotsPerBucket < 1 || model.SlotsPerBucket > SlotLayout.MaxSlotsPerBucket)
        {
            added.Add(new DiagnosticInfo(SchemaDiagnostics.BucketLimits.Id, at, Args(model.DisplayName,
                $"SlotsPerBucket is {Num(model.SlotsPerBucket)}, but a bucket holds 1..{Num(SlotLayout.MaxSlotsPerBucket)} slots")));
        }
        else if (model.KeySize > 0 && model.ValueSize > 0 && model.BucketSize > limits.MaxBucketBytes)
        {
            added.Add(new DiagnosticInfo(SchemaDiagnostics.BucketLimits.Id, at, Args(model.DisplayName,
                $"{Num(model.SlotsPerBucket)} slots of {Num(model.SlotSize)} bytes make a {Num(model.BucketSize)}-byte bucket, over the {Num(limits.MaxBucketBytes)}-byte limit (ScalioMaxBucketBytes)")));
        }

        if (added.Count == 0) return model;
        var all = new List<DiagnosticInfo>(model.Diagnostics);
        all.AddRange(added);
        return model with { Diagnostics = new EquatableArray<DiagnosticInfo>(all.ToArray()) };
    }

    /// <summary>SCALIO006 for every schema whose key/value pair an earlier schema (in source order) already declared.</summary>
    public static EquatableArray<DiagnosticInfo> FindDuplicates(ImmutableArray<SchemaModel> models)
    {
        var seen = new Dictionary<string, SchemaModel>();
        var found = new List<DiagnosticInfo>();
        foreach (SchemaModel model in models)
        {
            string pair = model.KeyType + "\n" + model.ValueType;
            if (seen.TryGetValue(pair, out SchemaModel? first))
            {
                found.Add(new DiagnosticInfo(SchemaDiagnostics.DuplicateSchema.Id, model.Location,
                    Args(model.DisplayName, model.KeyType, model.ValueType, first.DisplayName)));
            }
            else
            {
                seen.Add(pair, model);
            }
        }
        return new EquatableArray<DiagnosticInfo>(found.ToArray());
    }

    private static EquatableArray<string> Args(params string[] args) => new(args);

    private static string Num(int value) => value.ToString(CultureInfo.InvariantCulture);
}
