using System.Collections.Generic;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Scalio.Generators.Helpers;

namespace Scalio.Generators.Schema;

/// <summary>Turns a [ScalioSchema] declaration into a <see cref="SchemaModel"/>. Runs per schema, symbols stay here.</summary>
internal static class SchemaParser
{
    public const int DefaultSlotsPerBucket = 8;

    private static readonly SymbolDisplayFormat FullyQualified = SymbolDisplayFormat.FullyQualifiedFormat
        .WithMiscellaneousOptions(SymbolDisplayFormat.FullyQualifiedFormat.MiscellaneousOptions | SymbolDisplayMiscellaneousOptions.UseSpecialTypes);

    public static SchemaModel? Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        if (context.TargetSymbol is not INamedTypeSymbol schema || context.TargetNode is not TypeDeclarationSyntax syntax) return null;
        if (context.Attributes.Length == 0) return null;
        AttributeData attribute = context.Attributes[0];
        if (attribute.ConstructorArguments.Length != 2
            || attribute.ConstructorArguments[0].Value is not ITypeSymbol keyType
            || attribute.ConstructorArguments[1].Value is not ITypeSymbol valueType)
        {
            return null; // the compiler already reports malformed attribute arguments
        }

        cancellationToken.ThrowIfCancellationRequested();
        var diagnostics = new List<DiagnosticInfo>();
        Location nameLocation = syntax.Identifier.GetLocation();
        Location attributeLocation = attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken).GetLocation() ?? nameLocation;

        int slotsPerBucket = DefaultSlotsPerBucket;
        foreach (KeyValuePair<string, TypedConstant> arg in attribute.NamedArguments)
        {
            if (arg.Key == "SlotsPerBucket" && arg.Value.Value is int slots) slotsPerBucket = slots;
        }

        if (!TypeDeclarations.IsPartialAll(syntax))
        {
            diagnostics.Add(DiagnosticInfo.Create(SchemaDiagnostics.NotPartial, nameLocation, schema.Name));
        }

        int keySize = Measure("key type", keyType, attributeLocation, diagnostics);
        if (keySize > 0 && TypeLayoutCalculator.Compute(keyType) is { DataBytes: var data, Size: var size } && data < size)
        {
            diagnostics.Add(DiagnosticInfo.Create(SchemaDiagnostics.KeyPadding, attributeLocation, keyType.ToDisplayString(),
                (size - data).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        int valueSize = Measure("value type", valueType, attributeLocation, diagnostics);

        var containing = new List<string>();
        for (INamedTypeSymbol? outer = schema.ContainingType; outer is not null; outer = outer.ContainingType)
        {
            containing.Insert(0, TypeDeclarations.DeclarationOf(outer));
        }

        string ns = schema.ContainingNamespace.IsGlobalNamespace ? string.Empty : schema.ContainingNamespace.ToDisplayString();
        return new SchemaModel(
            ns,
            new EquatableArray<string>(containing.ToArray()),
            TypeDeclarations.DeclarationOf(schema),
            schema.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat),
            keyType.ToDisplayString(FullyQualified),
            valueType.ToDisplayString(FullyQualified),
            keySize,
            valueSize,
            slotsPerBucket,
            LocationInfo.From(nameLocation),
            new EquatableArray<DiagnosticInfo>(diagnostics.ToArray()));
    }

    private static int Measure(string role, ITypeSymbol type, Location fallback, List<DiagnosticInfo> diagnostics)
    {
        TypeLayout layout = TypeLayoutCalculator.Compute(type);
        if (layout.IsKnown)
        {
            if (!type.IsUnmanagedType)
            {
                // The walk found no reference field, but the compiler disagrees (e.g. a field it hides from us).
                diagnostics.Add(DiagnosticInfo.Create(SchemaDiagnostics.NotUnmanaged, fallback, role, type.ToDisplayString(), "it is not an unmanaged type"));
                return 0;
            }
            return layout.Size;
        }

        DiagnosticDescriptor descriptor = layout.Failure == LayoutFailure.NotUnmanaged ? SchemaDiagnostics.NotUnmanaged : SchemaDiagnostics.SizeUnknown;
        Location location = layout.Location is { IsInSource: true } l ? l : fallback;
        diagnostics.Add(DiagnosticInfo.Create(descriptor, location, role, type.ToDisplayString(), layout.Reason ?? "unknown layout"));
        return 0;
    }
}
