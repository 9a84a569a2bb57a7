namespace FineTune.Tests;

/// <summary>
/// Tests that seed torch's process-wide generator and then build models or draw dropout masks from it. xunit runs
/// test classes in parallel, and any other test that builds a module draws from the same generator in between, so
/// these run on their own: mark such a class with [Collection(SeededTestsCollection.Name)].
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SeededTestsCollection
{
    public const string Name = "torch's global generator";
}
