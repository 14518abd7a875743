using System.Collections.Generic;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Scalio.Generators.Helpers;

namespace Scalio.Generators.Nvme;

/// <summary>
/// Turns an <c>[NvmeCommand]</c>, <c>[NvmeCompletion]</c> or <c>[NvmeTcpPdu]</c> declaration and its
/// <c>[NvmeField]</c> attributes into an <see cref="NvmeDescriptionModel"/>, checking field placement.
/// Roslyn symbols stay in this class.
/// </summary>
internal static class NvmeParser
{
    private static readonly HashSet<string> GeneratedMembers = new()
    {
        "CommandId", "Flags", "Fuse", "Psdt", "Opcode", "WireSize", "OpcodeValue", "FabricsTypeValue", "WriteTo", "TryRead", "Read",
        "SqHead", "SqId", "StatusField", "Status", "Phase",
        "PduTypeValue", "PayloadOffset", "PayloadLength", "ThrowShort", "ThrowFieldRange", "ThrowNotThis", "HeaderLength", "AllowedFlags", "CarriesData", "PduDataOffset", "PduLength", "WriteHeader", "TryReadHeader",
    };

    public static NvmeDescriptionModel? Parse(GeneratorAttributeSyntaxContext context, NvmeDescriptionKind kind, CancellationToken cancellationToken)
    {
        if (context.TargetSymbol is not INamedTypeSymbol type || context.TargetNode is not TypeDeclarationSyntax syntax) return null;
        if (context.Attributes.Length == 0) return null;
        AttributeData main = context.Attributes[0];
        cancellationToken.ThrowIfCancellationRequested();

        var diagnostics = new List<NvmeDiagnosticInfo>();
        Location nameLocation = syntax.Identifier.GetLocation();
        string name = type.Name;
        if (!TypeDeclarations.IsPartialAll(syntax)) diagnostics.Add(NvmeDiagnosticInfo.Create(NvmeDiagnostics.NotPartial, nameLocation, name));

        int opcode = -1, fabricsType = -1, pduType = -1, headerLength = 0, allowedFlags = 0, maxData = 0;
        bool carriesData = false, neverDigested = false, admin = false;
        switch (kind)
        {
            case NvmeDescriptionKind.Command:
                // No opcode argument: one entry type for every opcode, as an executor that dispatches on it needs.
                if (main.ConstructorArguments.Length == 1 && main.ConstructorArguments[0].Value is byte op) opcode = op;
                else if (main.ConstructorArguments.Length != 0) return null;
                fabricsType = NamedInt(main, "FabricsType", -1);
                admin = NamedBool(main, "Admin");
                if (fabricsType is < -1 or > 255)
                {
                    diagnostics.Add(NvmeDiagnosticInfo.Create(NvmeDiagnostics.BadPduHeader, nameLocation, name, "FabricsType must be -1 (none) or 0..255"));
                }
                else if (fabricsType >= 0 && opcode != 0x7F)
                {
                    diagnostics.Add(NvmeDiagnosticInfo.Create(NvmeDiagnostics.BadPduHeader, nameLocation, name, "a Fabrics command type needs opcode 7Fh"));
                }
                break;
            case NvmeDescriptionKind.Pdu:
                if (main.ConstructorArguments.Length != 2 || main.ConstructorArguments[0].Value is not byte t || main.ConstructorArguments[1].Value is not int hlen) return null;
                pduType = t;
                headerLength = hlen;
                allowedFlags = NamedInt(main, "AllowedFlags", 0);
                carriesData = NamedBool(main, "CarriesData");
                neverDigested = NamedBool(main, "NeverDigested");
                maxData = NamedInt(main, "MaxDataLength", 0);
                if (hlen is < 8 or > 255)
                {
                    diagnostics.Add(NvmeDiagnosticInfo.Create(NvmeDiagnostics.BadPduHeader, nameLocation, name, "HLEN " + hlen + " is outside 8..255"));
                    headerLength = 8;
                }
                if (maxData < 0)
                {
                    diagnostics.Add(NvmeDiagnosticInfo.Create(NvmeDiagnostics.BadPduHeader, nameLocation, name, "MaxDataLength must not be negative"));
                }
                break;
        }

        int wireSize = NvmeDescriptionModel.WireSizeOf(kind, headerLength);
        var fields = new List<NvmeFieldModel>();
        var fieldLocations = new List<Location>();
        foreach (AttributeData attr in type.GetAttributes())
        {
            if (attr.AttributeClass?.ToDisplayString() != NvmeGenerator.FieldAttributeName) continue;
            if (attr.ConstructorArguments.Length != 3
                || attr.ConstructorArguments[0].Value is not string fieldName
                || attr.ConstructorArguments[1].Value is not int offset
                || attr.ConstructorArguments[2].Value is not int size)
            {
                continue; // the compiler reports malformed arguments
            }

            Location location = attr.ApplicationSyntaxReference?.GetSyntax(cancellationToken).GetLocation() ?? nameLocation;
            int bit = NamedInt(attr, "Bit", 0);
            int bits = NamedInt(attr, "Bits", 0);
            string? description = NamedString(attr, "Description");
            ITypeSymbol? storedAs = NamedType(attr, "Type");
            string? structType = storedAs?.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);
            var field = new NvmeFieldModel(fieldName, offset, size, bit, bits, description, structType);
            if (storedAs is not null && (storedAs.TypeKind != TypeKind.Struct || !storedAs.IsUnmanagedType))
            {
                diagnostics.Add(NvmeDiagnosticInfo.Create(NvmeDiagnostics.FieldOutOfRange, location, fieldName, name, "Type must be an unmanaged struct"));
            }
            else if (CheckField(field, name, wireSize, location, diagnostics))
            {
                fields.Add(field);
                fieldLocations.Add(location);
            }
        }

        CheckNames(fields, fieldLocations, name, diagnostics);
        CheckOverlaps(kind, fabricsType >= 0, fields, fieldLocations, name, diagnostics);
        fields.Sort(static (a, b) => a.Offset != b.Offset ? a.Offset.CompareTo(b.Offset) : a.Bit.CompareTo(b.Bit));

        var containing = new List<string>();
        for (INamedTypeSymbol? outer = type.ContainingType; outer is not null; outer = outer.ContainingType) containing.Insert(0, TypeDeclarations.DeclarationOf(outer));
        string ns = type.ContainingNamespace.IsGlobalNamespace ? string.Empty : type.ContainingNamespace.ToDisplayString();

        return new NvmeDescriptionModel(
            kind, ns, new EquatableArray<string>(containing.ToArray()), TypeDeclarations.DeclarationOf(type), name,
            opcode, fabricsType, pduType, headerLength, allowedFlags, carriesData, neverDigested, maxData, admin,
            new EquatableArray<NvmeFieldModel>(fields.ToArray()),
            LocationInfo.From(nameLocation),
            new EquatableArray<NvmeDiagnosticInfo>(diagnostics.ToArray()));
    }

    private static bool CheckField(NvmeFieldModel f, string owner, int wireSize, Location location, List<NvmeDiagnosticInfo> diagnostics)
    {
        string? problem = null;
        if (f.IsStruct && (f.Size < 1 || f.Bits != 0)) problem = "a struct-typed field needs its size in bytes and no Bit/Bits";
        else if (!f.IsStruct && f.Size is not (1 or 2 or 4 or 8)) problem = "size " + f.Size + " is not 1, 2, 4 or 8 bytes";
        else if (f.Offset < 0 || f.Offset + f.Size > wireSize) problem = "bytes " + f.Offset + ".." + (f.Offset + f.Size - 1) + " are outside the " + wireSize + "-byte wire form";
        else if (f.Bits < 0 || f.Bit < 0 || (f.Bits == 0 && f.Bit != 0)) problem = "Bit/Bits must be non-negative, and Bit needs Bits";
        else if (f.Bits > 0 && f.Bit + f.Bits > f.Size * 8) problem = "bits " + f.Bit + ".." + (f.Bit + f.Bits - 1) + " are outside its " + (f.Size * 8) + "-bit integer";
        else if (f.Bits == f.Size * 8) problem = "a bit field as wide as its integer should leave Bits at 0";
        if (problem is null) return true;
        diagnostics.Add(NvmeDiagnosticInfo.Create(NvmeDiagnostics.FieldOutOfRange, location, f.Name, owner, problem));
        return false;
    }

    private static void CheckNames(List<NvmeFieldModel> fields, List<Location> locations, string owner, List<NvmeDiagnosticInfo> diagnostics)
    {
        var seen = new HashSet<string>();
        for (int i = fields.Count - 1; i >= 0; i--)
        {
            string n = fields[i].Name;
            string? problem = null;
            if (!SyntaxFacts.IsValidIdentifier(n) || SyntaxFacts.GetKeywordKind(n) != SyntaxKind.None) problem = "is not a valid C# identifier";
            else if (GeneratedMembers.Contains(n) || n == owner) problem = "clashes with a generated member";
            if (problem is null) continue;
            diagnostics.Add(NvmeDiagnosticInfo.Create(NvmeDiagnostics.BadFieldName, locations[i], n, owner, problem));
            fields.RemoveAt(i);
            locations.RemoveAt(i);
        }

        for (int i = 0; i < fields.Count; i++)
        {
            if (seen.Add(fields[i].Name)) continue;
            diagnostics.Add(NvmeDiagnosticInfo.Create(NvmeDiagnostics.BadFieldName, locations[i], fields[i].Name, owner, "is declared twice"));
            fields.RemoveAt(i);
            locations.RemoveAt(i);
            i--;
        }
    }

    private static void CheckOverlaps(NvmeDescriptionKind kind, bool fabrics, List<NvmeFieldModel> fields, List<Location> locations, string owner, List<NvmeDiagnosticInfo> diagnostics)
    {
        int ownedStart, ownedEnd; // bytes the generator writes itself
        string ownedWhat;
        switch (kind)
        {
            case NvmeDescriptionKind.Command:
                ownedStart = 0; ownedEnd = fabrics ? 5 : 4; ownedWhat = fabrics ? "CDW0 and FCTYPE (bytes 0-4)" : "CDW0 (bytes 0-3)";
                break;
            case NvmeDescriptionKind.Completion:
                ownedStart = 8; ownedEnd = 16; ownedWhat = "SQHD, SQID, CID and status (bytes 8-15)";
                break;
            default:
                ownedStart = 0; ownedEnd = 8; ownedWhat = "the common header (bytes 0-7)";
                break;
        }

        for (int i = 0; i < fields.Count; i++)
        {
            NvmeFieldModel a = fields[i];
            string? clash = null;
            if (a.Offset < ownedEnd && a.Offset + a.Size > ownedStart) clash = ownedWhat;
            for (int j = 0; clash is null && j < i; j++)
            {
                NvmeFieldModel b = fields[j];
                if (a.Offset >= b.Offset + b.Size || b.Offset >= a.Offset + a.Size) continue;
                bool sameContainer = a.Offset == b.Offset && a.Size == b.Size && a.IsBitField && b.IsBitField;
                if (sameContainer && (a.Bit >= b.Bit + b.Bits || b.Bit >= a.Bit + a.Bits)) continue;
                clash = "field '" + b.Name + "'";
            }
            if (clash is null) continue;
            diagnostics.Add(NvmeDiagnosticInfo.Create(NvmeDiagnostics.FieldOverlap, locations[i], a.Name, owner, clash));
            fields.RemoveAt(i);
            locations.RemoveAt(i);
            i--;
        }
    }

    /// <summary>Reports descriptions that share an opcode/fabrics type or a PDU type.</summary>
    public static EquatableArray<NvmeDiagnosticInfo> FindDuplicates(System.Collections.Immutable.ImmutableArray<NvmeDescriptionModel> models)
    {
        var first = new Dictionary<string, NvmeDescriptionModel>();
        var found = new List<NvmeDiagnosticInfo>();
        foreach (NvmeDescriptionModel m in models)
        {
            string key = m.UniquenessKey;
            if (key.Length == 0) continue;
            string scoped = m.Namespace + "|" + key;
            if (first.TryGetValue(scoped, out NvmeDescriptionModel? earlier))
            {
                found.Add(new NvmeDiagnosticInfo(NvmeDiagnostics.Duplicate.Id, m.Location, new EquatableArray<string>(new[] { m.Name, key, earlier.Name })));
            }
            else
            {
                first.Add(scoped, m);
            }
        }
        return new EquatableArray<NvmeDiagnosticInfo>(found.ToArray());
    }

    private static int NamedInt(AttributeData attr, string name, int fallback)
    {
        foreach (KeyValuePair<string, TypedConstant> arg in attr.NamedArguments)
        {
            if (arg.Key != name) continue;
            return arg.Value.Value switch { int i => i, byte b => b, _ => fallback };
        }
        return fallback;
    }

    private static ITypeSymbol? NamedType(AttributeData attr, string name)
    {
        foreach (KeyValuePair<string, TypedConstant> arg in attr.NamedArguments)
        {
            if (arg.Key == name && arg.Value.Value is ITypeSymbol t) return t;
        }
        return null;
    }

    private static bool NamedBool(AttributeData attr, string name)
    {
        foreach (KeyValuePair<string, TypedConstant> arg in attr.NamedArguments)
        {
            if (arg.Key == name && arg.Value.Value is bool b) return b;
        }
        return false;
    }

    private static string? NamedString(AttributeData attr, string name)
    {
        foreach (KeyValuePair<string, TypedConstant> arg in attr.NamedArguments)
        {
            if (arg.Key == name && arg.Value.Value is string s) return s;
        }
        return null;
    }
}
