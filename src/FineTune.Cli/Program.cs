using FineTune.Cli;

// Under tcmalloc when it is installed (re-executes this process with it preloaded; FINETUNE_ALLOCATOR=glibc keeps
// glibc's malloc): training's RSS stays flat and steps are faster. See docs/performance.md.
FineTune.Runtime.NativeMemory.PreferTcmalloc();

return CliRunner.Invoke(CliApp.BuildRoot(), args);
