using System.Reflection;
using System.Reflection.Emit;

namespace FineTune.Tests.Architecture;

/// <summary>
/// The types a compiled type uses: its base type and interfaces, the types of its fields, properties, events, method
/// and constructor signatures, attributes, and every type its method bodies name (read from their IL: calls, object
/// creations, field accesses, casts, type tokens), with generic arguments and element types unwrapped.
/// </summary>
internal static class TypeReferences
{
    private static readonly Dictionary<short, OpCode> s_opCodes = typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

    private const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    public static HashSet<Type> Of(Type type)
    {
        var found = new HashSet<Type>();
        void Add(Type? t)
        {
            if (t is null || t.IsGenericParameter) return;
            if (t.HasElementType) { Add(t.GetElementType()); return; }
            if (t.IsGenericType && !t.IsGenericTypeDefinition)
            {
                foreach (var a in t.GetGenericArguments()) Add(a);
                t = t.GetGenericTypeDefinition();
            }
            found.Add(t);
        }
        Add(type.BaseType);
        foreach (var i in type.GetInterfaces()) Add(i);
        foreach (var a in type.GetCustomAttributesData()) Add(a.AttributeType);
        foreach (var f in type.GetFields(All)) Add(f.FieldType);
        foreach (var p in type.GetProperties(All)) Add(p.PropertyType);
        foreach (var e in type.GetEvents(All)) Add(e.EventHandlerType);
        var methods = type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All));
        foreach (var m in methods)
        {
            if (m is MethodInfo mi) Add(mi.ReturnType);
            foreach (var p in m.GetParameters()) Add(p.ParameterType);
            foreach (var a in m.GetCustomAttributesData()) Add(a.AttributeType);
            MethodBody? body;
            try { body = m.GetMethodBody(); }
            catch (Exception) { continue; }
            if (body is null) continue;
            foreach (var v in body.LocalVariables) Add(v.LocalType);
            foreach (var token in Tokens(body.GetILAsByteArray() ?? []))
            {
                try
                {
                    switch (m.Module.ResolveMember(token, GenericArguments(type), m is MethodInfo && m.IsGenericMethodDefinition ? m.GetGenericArguments() : null))
                    {
                        case Type t: Add(t); break;
                        case MethodBase called:
                            Add(called.DeclaringType);
                            if (called is MethodInfo cm) Add(cm.ReturnType);
                            if (called.IsGenericMethod) foreach (var a in called.GetGenericArguments()) Add(a);
                            break;
                        case FieldInfo field: Add(field.DeclaringType); Add(field.FieldType); break;
                    }
                }
                catch (Exception e) when (e is ArgumentException or BadImageFormatException or TypeLoadException or FileNotFoundException) { }
            }
        }
        found.Remove(type);
        return found;
    }

    private static Type[]? GenericArguments(Type type) => type.IsGenericTypeDefinition ? type.GetGenericArguments() : null;

    /// <summary>The metadata tokens in a method body's IL (operands of calls, object creations, field accesses, type operations).</summary>
    private static IEnumerable<int> Tokens(byte[] il)
    {
        for (int i = 0; i < il.Length;)
        {
            short value = il[i] == 0xFE && i + 1 < il.Length ? (short)(0xFE00 | il[i + 1]) : il[i];
            i += value > 0xFF || value < 0 ? 2 : 1;
            if (!s_opCodes.TryGetValue(value, out var op)) yield break;
            switch (op.OperandType)
            {
                case OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineType or OperandType.InlineTok:
                    yield return BitConverter.ToInt32(il, i);
                    i += 4;
                    break;
                case OperandType.InlineNone: break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar: i += 1; break;
                case OperandType.InlineVar: i += 2; break;
                case OperandType.InlineI8 or OperandType.InlineR: i += 8; break;
                case OperandType.InlineSwitch: i += 4 + 4 * BitConverter.ToInt32(il, i); break;
                default: i += 4; break;
            }
        }
    }
}
