using System.Reflection;
using FineTune.Checkpoints;

namespace FineTune.Tests.Architecture
{

    /// <summary>
    /// The library's layers point down only (docs/architecture.md): a type may use types of its own layer and of the
    /// layers below it, never of a layer above it, and never of a peer (Training and Evaluation are peers).
    /// </summary>
    public class LayerTests
    {
        /// <summary>The layers, bottom first; a namespace's layer is its rank here. Peers share a rank.</summary>
        internal static readonly (string Namespace, int Rank)[] Layers =
        [
            ("FineTune.Configuration", 0),
            ("FineTune.Runtime", 1),
            ("FineTune.Text", 2),
            ("FineTune.Data", 3),
            ("FineTune.Modeling", 4),
            ("FineTune.Checkpoints", 5),
            ("FineTune.Training", 6),
            ("FineTune.Evaluation", 6),
            ("FineTune.Export", 6),
            ("FineTune.Analysis", 6),
            ("FineTune.Inference", 7),
            ("FineTune.Reports", 8),
            ("FineTune.Tasks", 9),
            ("FineTune", 10),
        ];

        /// <summary>The errors every layer reports: in the root namespace (users catch them from there), but below every layer.</summary>
        private static readonly HashSet<string> BottomOfRoot = ["FineTuneException", "ModelLoadException", "DataException", "OptionException", "EnvironmentException"];

        internal static (string Layer, int Rank)? LayerOf(Type type)
        {
            while (type.DeclaringType is not null) type = type.DeclaringType;
            var ns = type.Namespace;
            // Compiler- and generator-made helpers (<PrivateImplementationDetails>, System.Text.RegularExpressions.Generated) belong to no layer.
            if (ns is null || ns.StartsWith("System.", StringComparison.Ordinal)) return null;
            if (ns == "FineTune" && BottomOfRoot.Contains(type.Name)) return ("FineTune (errors)", -1);
            foreach (var (name, rank) in Layers)
                if (ns == name || ns.StartsWith(name + ".", StringComparison.Ordinal)) return (name == "FineTune" ? "FineTune (front door)" : name, rank);
            return null;
        }

        /// <summary>Every use of a type of a higher layer, or of a peer layer: "From (layer) -> To (layer)".</summary>
        internal static List<string> Violations(Assembly assembly)
        {
            var violations = new List<string>();
            foreach (var type in assembly.GetTypes())
            {
                if (LayerOf(type) is not { } from) continue;
                foreach (var used in TypeReferences.Of(type))
                {
                    if (used.Assembly != assembly || LayerOf(used) is not { } to) continue;
                    if (to.Rank > from.Rank || (to.Rank == from.Rank && to.Layer != from.Layer))
                        violations.Add($"{type.FullName} ({from.Layer}) -> {used.FullName} ({to.Layer})");
                }
            }
            return violations.Distinct().Order(StringComparer.Ordinal).ToList();
        }

        [Fact]
        public void NoTypeUsesATypeOfAHigherOrPeerLayer()
        {
            var violations = Violations(typeof(FineTuner).Assembly);
            Assert.True(violations.Count == 0, $"{violations.Count} references point up or sideways:\n" + string.Join("\n", violations));
        }

        [Fact]
        public void EveryNamespaceOfTheLibraryHasALayer()
        {
            var unplaced = typeof(FineTuner).Assembly.GetTypes()
                .Where(t => t.Namespace is not null && !t.Namespace.StartsWith("System.", StringComparison.Ordinal) && LayerOf(t) is null)
            .Select(t => t.FullName).ToList();
            Assert.Empty(unplaced);
        }

        [Fact]
        public void TheCheckFindsAReferenceThatPointsUp()
        {
            // The test type below (layer of its namespace by its declared namespace) uses the front door from Checkpoints.
            var up = TypeReferences.Of(typeof(Checkpoints.UpwardReference));
            Assert.Contains(typeof(FineTuner), up);
            Assert.Contains(typeof(ModelFolder), up);
        }
    }
}

namespace FineTune.Tests.Architecture.Checkpoints
{
    /// <summary>A type whose only uses of library types are inside a method body (what the IL scan must find).</summary>
    internal static class UpwardReference
    {
        public static void Use()
        {
            _ = FineTuner.DetectTask("no-such-folder");
            _ = ModelFolder.LoadConfig("no-such-folder");
        }
    }
}
