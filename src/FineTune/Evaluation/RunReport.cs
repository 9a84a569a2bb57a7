namespace FineTune.Evaluation;

/// <summary>The run's plots and report.html, made from its <see cref="RunRecord"/>.</summary>
public static class RunReport
{
    public static void Write(string runFolder, RunRecord record)
    {
        _ = runFolder;
        _ = record;
    }
}
