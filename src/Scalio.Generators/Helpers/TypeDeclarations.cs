using System.Collections.Generic;
using System.Text;
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

    /// <summary>
    /// A unique, valid hint name for a generated file: namespace, containing types and the type, dot-separated, then
    /// <paramref name="suffix"/>; characters a hint name may not hold (generic brackets, commas, spaces) become '_'.
    /// </summary>
    public static string HintName(string @namespace, IEnumerable<string> containingTypes, string declarationOrName, string suffix)
    {
        var sb = new StringBuilder();
        if (@namespace.Length > 0) sb.Append(@namespace).Append('.');
        foreach (string outer in containingTypes) sb.Append(LastWord(outer)).Append('.');
        sb.Append(LastWord(declarationOrName)).Append(suffix);
        for (int i = 0; i < sb.Length; i++)
        {
            char c = sb[i];
            if (!(char.IsLetterOrDigit(c) || c == '.' || c == '_')) sb[i] = '_';
        }
        return sb.ToString();
    }

    /// <summary>The type name of a declaration line ("readonly partial struct Key&lt;T&gt;" gives "Key&lt;T&gt;").</summary>
    private static string LastWord(string declaration)
    {
        int generic = declaration.IndexOf('<');
        string head = generic < 0 ? declaration : declaration.Substring(0, generic);
        int space = head.LastIndexOf(' ');
        return declaration.Substring(space + 1);
    }
}
