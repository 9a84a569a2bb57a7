namespace FineTune.Serving;

/// <summary>POST /predict, /generate, /embed and /tokenize: one text, several texts, or text pairs.</summary>
/// <param name="Inputs">"text", ["text", ...], or [["text", "text"], ...] (pairs: /predict).</param>
/// <param name="Truncate">Cut inputs longer than the model's max length (false: such an input gets 413).</param>
/// <param name="TopK">/predict: the most probable labels only (default: all).</param>
/// <param name="Normalize">/embed: unit-length vectors (default true).</param>
/// <param name="AddSpecialTokens">/tokenize: with the special tokens the model sees (default true).</param>
public sealed record TextsRequest(object Inputs, bool? Truncate = null, int? TopK = null, bool? Normalize = null, bool? AddSpecialTokens = null);

/// <summary>POST /answer: one question about one context, or several in <paramref name="Inputs"/>.</summary>
public sealed record AnswerRequest(string? Question = null, string? Context = null, IReadOnlyList<QuestionAndContext>? Inputs = null);

/// <summary>A question and the context to answer it from.</summary>
public sealed record QuestionAndContext(string Question, string Context);

/// <summary>A label and its score: a softmax (classification) or sigmoid (multi-label) probability, or the value (regression).</summary>
public sealed record LabelScore(string Label, double Score);

/// <summary>An entity: its type, its text, where it is in the input ([start, end), UTF-16 indices) and its score.</summary>
public sealed record EntityResult(string Type, string Text, int Start, int End, double Score);

/// <summary>An answer cut from the context ([start, end), UTF-16 indices; -1 and empty when none qualifies) and its score.</summary>
public sealed record AnswerResult(string Answer, int Start, int End, double Score);

/// <summary>POST /generate: the text generated from one input (translation, summarization).</summary>
public sealed record GeneratedResult(string GeneratedText);

/// <summary>A token: its id, its text, where it is in the input ([start, stop)) and whether it is a special token.</summary>
public sealed record TokenResult(int Id, string Text, int Start, int Stop, bool Special);

/// <summary>An error: what is wrong (naming the field) and its kind (validation, payload, overloaded, unauthorized, unavailable, backend).</summary>
public sealed record ErrorResult(string Error, string ErrorType);

/// <summary>GET /health: ready, loading, draining or failed.</summary>
public sealed record HealthResult(string Status);

/// <summary>GET /info: the model, how it runs and the limits requests are held to.</summary>
public sealed record InfoResult(
    string Model, string Task, string Route, string Backend, string Precision, IReadOnlyList<string>? Labels, int MaxLength,
    int MaxBatchTokens, int MaxBatchRequests, int MaxWaitMs, int MaxConcurrentRequests, long PayloadLimit, int MaxClientBatchSize,
    IReadOnlyDictionary<string, string?> Versions);
