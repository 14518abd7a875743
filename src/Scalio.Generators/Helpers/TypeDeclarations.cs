using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Scalio.Generators.Helpers;

/// <summary>What the parsers need to re-declare a user's partial type and its containing types in generated code.</summary>
internal static class TypeDeclarations
{
    /// <summary>True when the type and every type containing it are declared <c>partial</c>.</summary>
    public static bool IsPartialAll(TypeDeclarationSyntax syntax)
    {
        for (SyntaxNode? node = syntax; node is not null; node = node.Parent)
        {
            if (node is TypeDeclarationSyntax type && !type.Modifiers.Any(SyntaxKind.PartialKeyword)) return false;
        }
        return true;
    }

    /// <summary>The partial declaration line of a type, e.g. <c>readonly partial struct Key</c> or <c>partial class Outer&lt;T&gt;</c>.</summary>
    public static string DeclarationOf(INamedTypeSymbol type)
    {
        string keyword = type switch
        {
            { IsRecord: true, TypeKind: TypeKind.Struct } => "record struct",
            { IsRecord: true } => "record",
            { TypeKind: TypeKind.Struct } => "struct",
            { TypeKind: TypeKind.Interface } => "interface",
            _ => "class",
        };
        string modifiers = string.Empty;
        if (type.IsStatic) modifiers += "static ";
        if (type.TypeKind == TypeKind.Struct && type.IsReadOnly) modifiers += "readonly ";
        if (type.IsRefLikeType) modifiers += "ref ";
        string name = type.Name;
        if (type.TypeParameters.Length > 0)
        {
            var names = new string[type.TypeParameters.Length];
            for (int i = 0; i < names.Length; i++) names[i] = type.TypeParameters[i].Name;
            name += "<" + string.Join(", ", names) + ">";
        }
        return modifiers + "partial " + keyword + " " + name;
    }
}
