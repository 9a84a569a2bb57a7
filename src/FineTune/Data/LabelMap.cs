using System.Globalization;

namespace FineTune.Data;

/// <summary>
/// The class names of a classification task and their ids (0 … Count-1), saved with a model as Hugging Face's
/// id2label / label2id.
/// <para>
/// Built from the training data by <see cref="FromObserved"/>, the order is predictable: when every label looks like
/// a number (invariant culture, e.g. "0", "1", "-1", "2.5") the labels are sorted by value, so "0" and "1" keep ids
/// 0 and 1 and "10" comes after "9"; otherwise they are sorted ordinally (by UTF-16 code unit, so "B" comes before
/// "a" and the order never depends on the machine's culture). <see cref="FromOrdered"/> keeps a given order.
/// </para>
/// </summary>
public sealed class LabelMap : IEquatable<LabelMap>
{
    private readonly string[] _labels;
    private readonly Dictionary<string, int> _ids;

    private LabelMap(string[] labels)
    {
        if (labels.Length == 0)
            throw new ArgumentException("a label map needs at least one label", nameof(labels));
        _labels = labels;
        _ids = new Dictionary<string, int>(labels.Length, StringComparer.Ordinal);
        for (var i = 0; i < labels.Length; i++)
        {
            ArgumentNullException.ThrowIfNull(labels[i], nameof(labels));
            if (!_ids.TryAdd(labels[i], i))
                throw new ArgumentException($"duplicate label '{labels[i]}'", nameof(labels));
        }
    }

    /// <summary>The labels seen in (training) data, de-duplicated and sorted as described on the class.</summary>
    public static LabelMap FromObserved(IEnumerable<string> labels) => new(SortObserved(labels));

    /// <summary>The labels in the given order (id = position), e.g. from a labels file.</summary>
    public static LabelMap FromOrdered(IEnumerable<string> labels) => new(labels.ToArray());

    /// <summary>From Hugging Face's id2label; the ids must be exactly 0 … n-1.</summary>
    public static LabelMap FromId2Label(IReadOnlyDictionary<int, string> id2Label)
    {
        var labels = new string[id2Label.Count];
        foreach (var (id, label) in id2Label)
        {
            if (id < 0 || id >= labels.Length)
                throw new ArgumentException($"id2label: ids must be 0 … {labels.Length - 1}, found {id}", nameof(id2Label));
            labels[id] = label;
        }
        return new LabelMap(labels);
    }

    /// <summary>From id2label as it appears in a config.json, with the ids written as strings ("0": "NEGATIVE").</summary>
    public static LabelMap FromId2Label(IReadOnlyDictionary<string, string> id2Label)
    {
        var byId = new Dictionary<int, string>();
        foreach (var (key, label) in id2Label)
        {
            if (!int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
                throw new ArgumentException($"id2label: '{key}' is not an id", nameof(id2Label));
            byId[id] = label;
        }
        return FromId2Label(byId);
    }

    /// <summary>From Hugging Face's label2id; the ids must be exactly 0 … n-1.</summary>
    public static LabelMap FromLabel2Id(IReadOnlyDictionary<string, int> label2Id) =>
        FromId2Label(label2Id.ToDictionary(kv => kv.Value, kv => kv.Key));

    /// <summary>
    /// The distinct labels in the order <see cref="FromObserved"/> gives them: by numeric value when every label
    /// looks like a number (equal values, such as "1" and "1.0", ordinally), otherwise ordinally.
    /// </summary>
    public static string[] SortObserved(IEnumerable<string> labels)
    {
        var distinct = labels.Distinct(StringComparer.Ordinal).ToArray();
        var values = new double[distinct.Length];
        var numeric = true;
        for (var i = 0; i < distinct.Length && numeric; i++)
            numeric = LooksNumeric(distinct[i], out values[i]);
        if (!numeric)
        {
            Array.Sort(distinct, StringComparer.Ordinal);
            return distinct;
        }
        var order = Enumerable.Range(0, distinct.Length)
            .OrderBy(i => values[i])
            .ThenBy(i => distinct[i], StringComparer.Ordinal);
        return order.Select(i => distinct[i]).ToArray();
    }

    public int Count => _labels.Length;

    /// <summary>The labels in id order.</summary>
    public IReadOnlyList<string> Labels => _labels;

    /// <summary>The label of an id.</summary>
    public string this[int id] => _labels[id];

    public bool Contains(string label) => _ids.ContainsKey(label);

    public bool TryGetId(string label, out int id) => _ids.TryGetValue(label, out id);

    /// <summary>The id of a label; throws <see cref="KeyNotFoundException"/> listing the known labels when it is unknown.</summary>
    public int GetId(string label) => _ids.TryGetValue(label, out var id)
        ? id
        : throw new KeyNotFoundException($"unknown label '{label}'; the labels are: {Describe()}");

    public IReadOnlyDictionary<int, string> Id2Label => Enumerable.Range(0, _labels.Length).ToDictionary(i => i, i => _labels[i]);

    public IReadOnlyDictionary<string, int> Label2Id => new Dictionary<string, int>(_ids, StringComparer.Ordinal);

    /// <summary>The labels as a comma-separated list, cut after <paramref name="max"/> of them.</summary>
    public string Describe(int max = 50)
    {
        var shown = string.Join(", ", _labels.Take(max));
        return _labels.Length > max ? $"{shown}, … ({_labels.Length} in all)" : shown;
    }

    public bool Equals(LabelMap? other) => other is not null && _labels.AsSpan().SequenceEqual(other._labels);

    public override bool Equals(object? obj) => Equals(obj as LabelMap);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var l in _labels) hash.Add(l, StringComparer.Ordinal);
        return hash.ToHashCode();
    }

    public override string ToString() => $"LabelMap({Describe(10)})";

    internal static bool LooksNumeric(string label, out double value) =>
        double.TryParse(label, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
}
