namespace FineTune;

/// <summary>Base class of the errors FineTune reports about the user's input: files, models, data and options.</summary>
public class FineTuneException : Exception
{
    public FineTuneException(string message) : base(message) { }
    public FineTuneException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A model folder, checkpoint, weight file or vocabulary that cannot be used. Names the file and, where known, the key.</summary>
public class ModelLoadException : FineTuneException
{
    public string? FilePath { get; }
    public string? Key { get; }

    public ModelLoadException(string message, string? filePath = null, string? key = null, Exception? inner = null)
        : base(Compose(message, filePath, key), inner!)
    {
        FilePath = filePath;
        Key = key;
    }

    private static string Compose(string message, string? filePath, string? key)
    {
        var where = filePath is null ? "" : key is null ? $"{filePath}: " : $"{filePath}: key '{key}': ";
        return where + message;
    }
}

/// <summary>Input data that cannot be used. Names the file, the 1-based row (line) and the column where known.</summary>
public class DataException : FineTuneException
{
    public string? FilePath { get; }
    public long? Row { get; }
    public string? Column { get; }

    public DataException(string message, string? filePath = null, long? row = null, string? column = null, Exception? inner = null)
        : base(Compose(message, filePath, row, column), inner!)
    {
        FilePath = filePath;
        Row = row;
        Column = column;
    }

    private static string Compose(string message, string? filePath, long? row, string? column)
    {
        if (filePath is null) return message;
        var where = filePath;
        if (row is not null) where += $":{row}";
        if (column is not null) where += $": column '{column}'";
        return $"{where}: {message}";
    }
}

/// <summary>
/// An option value that cannot be used. <see cref="Option"/> names the option by its type and property
/// (<c>TrainingOptions.LearningRate</c>); front ends show it under their own name for it (the CLI: its flag).
/// </summary>
public class OptionException : FineTuneException
{
    public string Option { get; }

    public OptionException(string option, string message, Exception? inner = null)
        : base($"{option}: {message}", inner!)
    {
        Option = option;
    }
}

/// <summary>
/// The machine, not the input, stopped the operation: no space left on a disk, a folder that cannot be written, an
/// output folder in use by another run. The message says what and where.
/// </summary>
public class EnvironmentException : FineTuneException
{
    public EnvironmentException(string message, Exception? inner = null) : base(message, inner!) { }
}
