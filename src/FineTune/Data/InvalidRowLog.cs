namespace FineTune.Data;

/// <summary>
/// The invalid rows of one file: thrown at once when not skipping; otherwise counted, with the reasons of the first
/// few rows in file order kept for the report (whatever order the checks met them in).
/// </summary>
internal sealed class InvalidRowLog(string file, bool skip, int reported)
{
    private readonly List<(long Row, string Reason)> _first = [];

    public bool Skips => skip;

    public int Count { get; private set; }

    /// <summary>Throws <paramref name="error"/> when not skipping; otherwise counts row <paramref name="row"/> as skipped.</summary>
    public void Invalid(DataException error, long row)
    {
        if (!skip) throw error;
        Count++;
        int at = _first.FindLastIndex(x => x.Row <= row) + 1;
        if (at >= reported) return;
        _first.Insert(at, (row, error.Message));
        if (_first.Count > reported) _first.RemoveAt(_first.Count - 1);
    }

    public SkippedRows Report() => new(file, Count, _first.Select(x => x.Reason).ToArray());
}
