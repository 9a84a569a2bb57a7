using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace FineTune.Evaluation;

/// <summary>Writing a run folder's JSON files: complete or not at all (temporary name, then rename).</summary>
public static class RunFiles
{
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void WriteJsonAtomically(string path, object value) =>
        WriteTextAtomically(path, JsonSerializer.Serialize(value, Json) + "\n");

    public static void WriteTextAtomically(string path, string text)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, text, new UTF8Encoding(false));
        File.Move(tmp, path, overwrite: true);
    }

    public const string RecordName = "run.json";

    public static void WriteRecord(string runFolder, RunRecord record) =>
        WriteJsonAtomically(Path.Combine(runFolder, RecordName), record);

    public static RunRecord ReadRecord(string runFolder)
    {
        var path = Path.Combine(runFolder, RecordName);
        try
        {
            return JsonSerializer.Deserialize<RunRecord>(File.ReadAllText(path), Json) ?? throw new FineTuneException($"{path}: empty");
        }
        catch (JsonException e) { throw new FineTuneException($"{path}: not a run record: {e.Message}", e); }
    }
}
