using System;
using System.Collections.Generic;
using Microsoft.CodeAnalysis;

namespace Scalio.Generators.Schema;

/// <summary>Why a layout could not be computed.</summary>
internal enum LayoutFailure
{
    None,
    NotUnmanaged,
    Unknown,
}

/// <summary>Size and alignment of a type as the CLR lays it out on a 64-bit host, or why it is not known.</summary>
internal readonly struct TypeLayout
{
    public TypeLayout(int size, int alignment, int dataBytes = -1)
    {
        Size = size;
        Alignment = alignment;
        DataBytes = dataBytes < 0 ? size : dataBytes;
        Failure = LayoutFailure.None;
        Reason = null;
        Location = null;
    }

    private TypeLayout(LayoutFailure failure, string reason, Location? location)
    {
        Size = 0;
        Alignment = 1;
        DataBytes = 0;
        Failure = failure;
        Reason = reason;
        Location = location;
    }

    public int Size { get; }
    public int Alignment { get; }
    /// <summary>Bytes covered by fields; <see cref="Size"/> minus this is padding (explicit layouts count as padding-free).</summary>
    public int DataBytes { get; }
    public LayoutFailure Failure { get; }
    public string? Reason { get; }
    public Location? Location { get; }
    public bool IsKnown => Failure == LayoutFailure.None;

    public static TypeLayout Fail(LayoutFailure failure, string reason, Location? location) => new(failure, reason, location);
}

/// <summary>
/// Computes struct layouts from symbols, following the CLR's rules for unmanaged structs: sequential layout aligns
/// each field to min(natural alignment, Pack) and rounds the size up to the largest alignment; explicit layout
/// takes the furthest field end; [StructLayout(Size = n)] sets a minimum; [InlineArray(n)] repeats its one field;
/// fixed buffers are element size times length. Well-known BCL structs come from a table because their
/// private layout attributes are not visible through metadata symbols.
/// </summary>
internal static class TypeLayoutCalculator
{
    private const int MaxDepth = 32;

    public static TypeLayout Compute(ITypeSymbol type) => Compute(type, 0, null);

    private static TypeLayout Compute(ITypeSymbol type, int depth, Location? site)
    {
        if (depth > MaxDepth) return TypeLayout.Fail(LayoutFailure.Unknown, "the struct nests too deeply", site);

        switch (type.SpecialType)
        {
            case SpecialType.System_Boolean:
            case SpecialType.System_Byte:
            case SpecialType.System_SByte:
                return new TypeLayout(1, 1);
            case SpecialType.System_Char:
            case SpecialType.System_Int16:
            case SpecialType.System_UInt16:
                return new TypeLayout(2, 2);
            case SpecialType.System_Int32:
            case SpecialType.System_UInt32:
            case SpecialType.System_Single:
                return new TypeLayout(4, 4);
            case SpecialType.System_Int64:
            case SpecialType.System_UInt64:
            case SpecialType.System_Double:
            case SpecialType.System_IntPtr:
            case SpecialType.System_UIntPtr:
            case SpecialType.System_DateTime:
                return new TypeLayout(8, 8);
            case SpecialType.System_Decimal:
                return new TypeLayout(16, 8);
        }

        switch (type.TypeKind)
        {
            case TypeKind.Pointer:
            case TypeKind.FunctionPointer:
                return new TypeLayout(8, 8);
            case TypeKind.Enum:
                return type is INamedTypeSymbol { EnumUnderlyingType: { } underlying }
                    ? Compute(underlying, depth + 1, site)
                    : TypeLayout.Fail(LayoutFailure.Unknown, "the enum has no underlying type", site);
            case TypeKind.TypeParameter:
                return TypeLayout.Fail(LayoutFailure.Unknown, $"'{type.Name}' is a type parameter; use a concrete struct", site);
            case TypeKind.Struct:
                break;
            case TypeKind.Error:
                return TypeLayout.Fail(LayoutFailure.Unknown, $"'{type.ToDisplayString()}' does not resolve", site);
            default:
                return TypeLayout.Fail(LayoutFailure.NotUnmanaged, $"'{type.ToDisplayString()}' is a reference type", site);
        }

        var named = (INamedTypeSymbol)type;
        if (named.IsUnboundGenericType) return TypeLayout.Fail(LayoutFailure.Unknown, $"'{type.ToDisplayString()}' is an open generic type; name a closed one", site);
        if (WellKnown(named) is { } known) return known;
        if (named.IsRefLikeType) return TypeLayout.Fail(LayoutFailure.NotUnmanaged, $"'{type.ToDisplayString()}' is a ref struct", site);

        int pack = 0, minSize = 0;
        bool isExplicit = false;
        int inlineLength = -1;
        foreach (AttributeData attribute in named.GetAttributes())
        {
            string? name = attribute.AttributeClass?.ToDisplayString();
            if (name == "System.Runtime.InteropServices.StructLayoutAttribute")
            {
                if (attribute.ConstructorArguments.Length == 1 && attribute.ConstructorArguments[0].Value is { } kindValue)
                {
                    int kind = Convert.ToInt32(kindValue, System.Globalization.CultureInfo.InvariantCulture);
                    if (kind == 3) return TypeLayout.Fail(LayoutFailure.Unknown, $"'{type.ToDisplayString()}' uses LayoutKind.Auto, which lets the runtime reorder fields", site);
                    isExplicit = kind == 2;
                }
                foreach (KeyValuePair<string, TypedConstant> arg in attribute.NamedArguments)
                {
                    if (arg.Key == "Pack" && arg.Value.Value is int p) pack = p;
                    else if (arg.Key == "Size" && arg.Value.Value is int s) minSize = s;
                }
            }
            else if (name == "System.Runtime.CompilerServices.InlineArrayAttribute"
                && attribute.ConstructorArguments.Length == 1 && attribute.ConstructorArguments[0].Value is int length)
            {
                inlineLength = length;
            }
        }

        int size = 0, maxAlign = 1, fieldCount = 0, data = 0;
        foreach (ISymbol member in named.IsTupleType ? TupleFields(named) : named.GetMembers())
        {
            if (member is not IFieldSymbol field || field.IsStatic || field.IsConst) continue;
            Location? fieldSite = field.Locations.Length > 0 && field.Locations[0].IsInSource ? field.Locations[0] : site;
            if (field.AssociatedSymbol is IPropertySymbol property && property.Locations.Length > 0 && property.Locations[0].IsInSource)
            {
                fieldSite = property.Locations[0];
            }

            TypeLayout fieldLayout;
            if (field.IsFixedSizeBuffer && field.Type is IPointerTypeSymbol pointer)
            {
                TypeLayout element = Compute(pointer.PointedAtType, depth + 1, fieldSite);
                fieldLayout = element.IsKnown ? new TypeLayout(element.Size * field.FixedSize, element.Alignment) : element;
            }
            else
            {
                fieldLayout = Compute(field.Type, depth + 1, fieldSite);
            }

            if (!fieldLayout.IsKnown)
            {
                string label = field.AssociatedSymbol?.Name ?? field.Name;
                return TypeLayout.Fail(fieldLayout.Failure, $"field '{named.Name}.{label}': {fieldLayout.Reason}", fieldLayout.Location ?? fieldSite);
            }

            int align = pack > 0 ? Math.Min(fieldLayout.Alignment, pack) : fieldLayout.Alignment;
            maxAlign = Math.Max(maxAlign, align);
            fieldCount++;
            data += fieldLayout.DataBytes;
            if (isExplicit)
            {
                int offset = FieldOffset(field);
                if (offset < 0) return TypeLayout.Fail(LayoutFailure.Unknown, $"field '{named.Name}.{field.Name}' has no [FieldOffset] in an explicit layout", fieldSite);
                size = Math.Max(size, offset + fieldLayout.Size);
            }
            else
            {
                size = RoundUp(size, align) + fieldLayout.Size;
            }
        }

        if (inlineLength >= 0)
        {
            if (fieldCount != 1 || inlineLength < 1) return TypeLayout.Fail(LayoutFailure.Unknown, $"[InlineArray] struct '{type.ToDisplayString()}' must have exactly one field and a positive length", site);
            size *= inlineLength;
            data *= inlineLength;
        }

        size = RoundUp(size, maxAlign);
        if (size == 0) size = 1; // an empty struct still occupies one byte
        if (minSize > size) size = minSize;
        // Fields of an explicit layout may overlap, so their sum says nothing about padding: treat it as covered.
        return new TypeLayout(size, maxAlign, isExplicit ? size : Math.Min(data, size));
    }

    private static System.Collections.Immutable.ImmutableArray<ISymbol> TupleFields(INamedTypeSymbol tuple)
    {
        // A tuple's members list both ItemN and the element names; its elements are the real fields.
        var builder = System.Collections.Immutable.ImmutableArray.CreateBuilder<ISymbol>(tuple.TupleElements.Length);
        foreach (IFieldSymbol element in tuple.TupleElements) builder.Add(element);
        return builder.MoveToImmutable();
    }

    private static TypeLayout? WellKnown(INamedTypeSymbol type)
    {
        if (type.ContainingNamespace is not { Name: "System", ContainingNamespace.IsGlobalNamespace: true }) return null;
        if (type.IsGenericType) return null;
        return type.Name switch
        {
            "Guid" => new TypeLayout(16, 4),
            "Int128" or "UInt128" => new TypeLayout(16, 16),
            "Half" => new TypeLayout(2, 2),
            "TimeSpan" => new TypeLayout(8, 8),
            "DateTimeOffset" => new TypeLayout(16, 8, 10), // a DateTime and a short offset
            "DateOnly" => new TypeLayout(4, 4),
            "TimeOnly" => new TypeLayout(8, 8),
            _ => null,
        };
    }

    private static int FieldOffset(IFieldSymbol field)
    {
        foreach (AttributeData attribute in field.GetAttributes())
        {
            if (attribute.AttributeClass?.ToDisplayString() == "System.Runtime.InteropServices.FieldOffsetAttribute"
                && attribute.ConstructorArguments.Length == 1 && attribute.ConstructorArguments[0].Value is int offset)
            {
                return offset;
            }
        }
        return -1;
    }

    private static int RoundUp(int value, int alignment) => (value + alignment - 1) / alignment * alignment;
}
