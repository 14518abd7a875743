using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;
using Scalio.Fast;
using Scalio.Fast.Cache;

namespace Scalio.Tests.Generators;

public class SchemaCompileTests
{
    private static string FixedSchema(int keyBytes, int valueBytes, int slots = 8, string ns = "App.Model") => $$"""
        using Scalio.Fast.Schema;

        namespace {{ns}};

        /// <summary>Key.</summary>
        public unsafe struct Key{{keyBytes}}
        {
            /// <summary>Bytes.</summary>
            public fixed byte Data[{{keyBytes}}];
        }

        /// <summary>Value.</summary>
        public unsafe struct Value{{valueBytes}}
        {
            /// <summary>Bytes.</summary>
            public fixed byte Data[{{valueBytes}}];
        }

        /// <summary>Schema.</summary>
        [ScalioSchema(typeof(Key{{keyBytes}}), typeof(Value{{valueBytes}}), SlotsPerBucket = {{slots}})]
        public partial struct Schema{{keyBytes}}x{{valueBytes}}
        {
        }
        """;

    [Theory]
    // key, value, slots -> value offset, slot size, bucket size (worked out by hand, as in SlotLayoutTests)
    [InlineData(8, 8, 8, 28, 40, 320)]
    [InlineData(16, 64, 8, 36, 104, 832)]
    [InlineData(24, 100, 4, 44, 144, 576)]
    [InlineData(33, 1000, 1, 53, 1056, 1088)]
    [InlineData(128, 512, 16, 148, 664, 10624)]
    [InlineData(256, 4096, 8, 276, 4376, 35008)]
    public void Generated_code_compiles_without_warnings_and_constants_match_SlotLayout(int keyBytes, int valueBytes, int slots, int valueOffset, int slotSize, int bucketSize)
    {
        var (output, generatorDiagnostics, run) = GeneratorHarness.Run(FixedSchema(keyBytes, valueBytes, slots));

        Assert.Empty(generatorDiagnostics);
        Assert.Empty(GeneratorHarness.Problems(output));
        Assert.Equal(3, run.GeneratedTrees.Length); // EmbeddedAttribute, the schema attribute and one schema

        Assembly assembly = GeneratorHarness.Load(output);
        Type schema = assembly.GetType($"App.Model.Schema{keyBytes}x{valueBytes}", throwOnError: true)!;
        var expected = new SlotLayout(keyBytes, valueBytes, slots);
        Assert.Equal(expected.KeyCapacity, Const(schema, "KeyCapacity"));
        Assert.Equal(expected.ValueCapacity, Const(schema, "ValueCapacity"));
        Assert.Equal(expected.SlotsPerBucket, Const(schema, "SlotsPerBucket"));
        Assert.Equal(SlotLayout.KeyOffset, Const(schema, "KeyOffset"));
        Assert.Equal(expected.ValueOffset, Const(schema, "ValueOffset"));
        Assert.Equal(expected.SlotSize, Const(schema, "SlotSize"));
        Assert.Equal(expected.BucketSize, Const(schema, "BucketSize"));
        Assert.Equal((valueOffset, slotSize, bucketSize), (Const(schema, "ValueOffset"), Const(schema, "SlotSize"), Const(schema, "BucketSize")));
        Type slot = schema.GetNestedType("Slot")!;
        Assert.Equal(slotSize, System.Runtime.InteropServices.Marshal.SizeOf(slot));
        Assert.Equal(valueOffset, (int)System.Runtime.InteropServices.Marshal.OffsetOf(slot, "Value"));

        var layout = (SlotLayout)schema.GetProperty("Layout")!.GetValue(null)!;
        Assert.Equal(expected.ToString(), layout.ToString());
    }

    [Fact]
    public void Nested_generic_and_global_namespace_schemas_compile()
    {
        const string source = """
            using System;
            using System.Runtime.CompilerServices;
            using Scalio.Fast.Schema;

            /// <summary>Key.</summary>
            public struct GlobalKey
            {
                /// <summary>A.</summary>
                public long A;

                /// <summary>B.</summary>
                public Guid B;
            }

            /// <summary>Value.</summary>
            [InlineArray(12)]
            public struct GlobalValue { private int _element; }

            /// <summary>Schema in the global namespace.</summary>
            [ScalioSchema(typeof(GlobalKey), typeof(GlobalValue))]
            public readonly partial struct GlobalSchema { }

            namespace Outer.Space
            {
                /// <summary>Container.</summary>
                public static partial class Holder<T>
                {
                    /// <summary>Nested schema.</summary>
                    [ScalioSchema(typeof(GlobalKey), typeof(long), SlotsPerBucket = 2)]
                    public partial record struct Nested;
                }
            }
            """;
        var (output, generatorDiagnostics, run) = GeneratorHarness.Run(source);

        Assert.Empty(generatorDiagnostics);
        Assert.Empty(GeneratorHarness.Problems(output));
        Assert.Equal(4, run.GeneratedTrees.Length); // EmbeddedAttribute, the schema attribute and two schemas
        Assembly assembly = GeneratorHarness.Load(output);
        Type global = assembly.GetType("GlobalSchema", throwOnError: true)!;
        Assert.Equal(24, Const(global, "KeyCapacity"));
        Assert.Equal(48, Const(global, "ValueCapacity"));
        Type nested = assembly.GetType("Outer.Space.Holder`1+Nested", throwOnError: true)!.MakeGenericType(typeof(int));
        Assert.Equal(8, Const(nested, "ValueCapacity"));
        Assert.Equal(2, Const(nested, "SlotsPerBucket"));
    }

    public static TheoryData<string, string> LayoutCases => new()
    {
        { "public struct T { public byte A; public long B; public short C; }", "" },
        { "[StructLayout(LayoutKind.Sequential, Pack = 1)] public struct T { public byte A; public long B; public short C; }", "" },
        { "[StructLayout(LayoutKind.Sequential, Pack = 2)] public struct T { public byte A; public long B; public byte C; }", "" },
        { "[StructLayout(LayoutKind.Sequential, Size = 40)] public struct T { public int A; }", "" },
        { "[StructLayout(LayoutKind.Explicit)] public struct T { [FieldOffset(0)] public int A; [FieldOffset(9)] public byte B; [FieldOffset(4)] public long C; }", "" },
        { "[StructLayout(LayoutKind.Explicit, Size = 64)] public struct T { [FieldOffset(0)] public int A; [FieldOffset(12)] public long B; }", "" },
        { "[InlineArray(10)] public struct T { private int _e; }", "" },
        { "[InlineArray(3)] public struct T { private Inner _e; }", "public struct Inner { public byte A; public int B; }" },
        { "public struct T { public Guid Id; public byte Tag; }", "" },
        { "public struct T { public int X { get; set; } public byte Y; }", "" },
        { "public struct T { public Inner M; public E F; public byte G; }", "public enum E : short { A } public struct Inner { public byte A; public long B; }" },
        { "public unsafe struct T { public fixed char Name[5]; public byte B; }", "" },
        { "public unsafe struct T { public fixed double D[3]; public byte B; }", "" },
        { "public struct T { public byte A; public decimal D; }", "" },
        { "public struct T { }", "" },
        { "public struct T { public byte A; public Int128 B; }", "" },
        { "public struct T { public byte A; public Half H; public DateOnly D; }", "" },
        { "public struct T { public byte A; public TimeSpan S; public DateTimeOffset O; }", "" },
        { "public struct T { public bool A; public char B; public nint C; public float D; }", "" },
        { "public unsafe struct T { public byte A; public int* P; public delegate*<void> F; }", "" },
        { "public struct T { public byte A; public (int, byte) B; public (short X, long Y) C; }", "" },
        { "public struct T { public byte A; public int? B; public DateTime C; }", "" },
        { "[StructLayout(LayoutKind.Sequential, Pack = 4)] public struct T { public byte A; public Inner B; }", "public struct Inner { public byte A; public long B; }" },
    };

    [Theory]
    [MemberData(nameof(LayoutCases))]
    public void Computed_sizes_match_the_runtime(string valueType, string helpers)
    {
        string source = $$"""
            #pragma warning disable CS1591
            using System;
            using System.Runtime.CompilerServices;
            using System.Runtime.InteropServices;
            using Scalio.Fast.Schema;

            namespace Sizes;

            {{helpers}}
            {{valueType}}
            [ScalioSchema(typeof(long), typeof(T))]
            internal partial struct S { }
            """;
        var (output, generatorDiagnostics, _) = GeneratorHarness.Run(source);
        Assert.Empty(generatorDiagnostics);
        Assert.Empty(GeneratorHarness.Problems(output));

        Assembly assembly = GeneratorHarness.Load(output);
        Type schema = assembly.GetType("Sizes.S", throwOnError: true)!;
        Type value = assembly.GetType("Sizes.T", throwOnError: true)!;
        int runtimeSize = (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(value).Invoke(null, null)!;
        Assert.Equal(runtimeSize, Const(schema, "ValueCapacity"));
        Assert.NotNull(schema.GetProperty("Layout", BindingFlags.Public | BindingFlags.Static)!.GetValue(null)); // the runtime check passes
    }

    [Fact]
    public void Typed_client_puts_gets_and_deletes_through_a_real_store()
    {
        const string source = """
            using Scalio.Fast.Schema;

            namespace EndToEnd;

            public struct UserId { public long Tenant; public long Id; }

            public unsafe struct Profile { public int Age; public fixed byte Name[56]; public int Score; }

            [ScalioSchema(typeof(UserId), typeof(Profile))]
            public partial struct UserSchema { }
            """;
        var (output, generatorDiagnostics, _) = GeneratorHarness.Run(source);
        Assert.Empty(generatorDiagnostics);
        Assembly assembly = GeneratorHarness.Load(output);
        Type schema = assembly.GetType("EndToEnd.UserSchema", throwOnError: true)!;
        Type clientType = schema.GetNestedType("Client")!;
        Type keyType = assembly.GetType("EndToEnd.UserId", throwOnError: true)!;
        Type valueType = assembly.GetType("EndToEnd.Profile", throwOnError: true)!;

        Assert.Equal(SlotLayout.Default.ToString(), schema.GetProperty("Layout")!.GetValue(null)!.ToString());

        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 1000, CacheBuckets = 4 });
        using var raw = store.OpenClient();
        object client = Activator.CreateInstance(clientType, raw)!;

        object key = Make(keyType, ("Tenant", 7L), ("Id", 42L));
        object value = Make(valueType, ("Age", 31), ("Score", -5));
        Assert.Equal(OpStatus.Ok, Call(client, "Put", key, value));

        object?[] args = [key, null];
        Assert.Equal(OpStatus.Ok, (OpStatus)clientType.GetMethod("Get")!.Invoke(client, args)!);
        Assert.Equal(31, valueType.GetField("Age")!.GetValue(args[1]));
        Assert.Equal(-5, valueType.GetField("Score")!.GetValue(args[1]));

        // The raw client sees the same bytes: key = two little-endian longs.
        var rawKey = new byte[16];
        BitConverter.TryWriteBytes(rawKey.AsSpan(0, 8), 7L);
        BitConverter.TryWriteBytes(rawKey.AsSpan(8, 8), 42L);
        var rawValue = new byte[64];
        Assert.Equal(OpStatus.Ok, raw.Get(rawKey, rawValue, out int length));
        Assert.Equal(64, length);
        Assert.Equal(31, BitConverter.ToInt32(rawValue, 0));
        Assert.Equal(-5, BitConverter.ToInt32(rawValue, 60));

        Assert.Equal(OpStatus.Ok, Call(client, "Delete", key));
        args = [key, null];
        Assert.Equal(OpStatus.NotFound, (OpStatus)clientType.GetMethod("Get")!.Invoke(client, args)!);
        Assert.Equal(0, valueType.GetField("Age")!.GetValue(args[1]));
    }

    [Fact]
    public void Typed_client_rejects_a_store_with_another_layout()
    {
        const string source = """
            using Scalio.Fast.Schema;
            namespace Mismatch;
            public struct K { public long A; }
            public struct V { public long A; }
            [ScalioSchema(typeof(K), typeof(V))]
            public partial struct S { }
            """;
        var (output, _, _) = GeneratorHarness.Run(source);
        Type clientType = GeneratorHarness.Load(output).GetType("Mismatch.S+Client", throwOnError: true)!;
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 100, CacheBuckets = 2 });
        using var raw = store.OpenClient();
        var error = Assert.Throws<TargetInvocationException>(() => Activator.CreateInstance(clientType, raw));
        var argument = Assert.IsType<ArgumentException>(error.InnerException);
        Assert.Contains("does not match schema S", argument.Message);
    }

    private static object Make(Type type, params (string Field, object Value)[] fields)
    {
        object boxed = Activator.CreateInstance(type)!;
        foreach (var (field, value) in fields) type.GetField(field)!.SetValue(boxed, value);
        return boxed;
    }

    private static OpStatus Call(object target, string method, params object[] args)
        => (OpStatus)target.GetType().GetMethod(method)!.Invoke(target, args)!;

    private static int Const(Type type, string name)
        => (int)type.GetField(name, BindingFlags.Public | BindingFlags.Static)!.GetRawConstantValue()!;
}
