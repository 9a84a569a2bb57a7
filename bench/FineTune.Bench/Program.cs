using FineTune.Bench;

// FineTune.Bench: benchmarks of fine-tuning and inference (not tests). Each scenario prints a readable table and,
// as its last line, one JSON object; the same object goes to bench/results/. See docs/performance.md.
// Under tcmalloc when it is installed, as the finetune command runs (FINETUNE_ALLOCATOR=glibc to compare).
FineTune.Runtime.NativeMemory.PreferTcmalloc();

var scenarios = new Dictionary<string, (Action<BenchArgs> Run, string Help)>
{
    ["train-step"] = (TrainStepScenario.Run, "--batch 32 --seq 128 --precision fp32|bf16 [--reps 7 --warmup 3 --threads N --optimizer fused|torchsharp --ab fused-softmax|fast-dropout|fuse-qkv|fused-layernorm|explicit-casts|split-batch " + KernelSwitches.Help + "]"),
    ["kernels"] = (KernelsScenario.Run, "--batch 32 --seq 128 [--precision fp32,bf16 --only NAME --reps 7 --threads N " + KernelSwitches.Help + "]"),
    ["gemm"] = (GemmScenario.Run, "[--batch 32 --seq 128 --precision bf16,fp32 --reps 9 --threads N]"),
    ["ceiling"] = (CeilingScenario.Run, "[--rounds 40 --precision bf16|fp32 --batch 32 --seq 128 --threads N --single]"),
    ["optimizer"] = (OptimizerScenario.Run, "[--reps 15 --threads N]"),
    ["inference"] = (InferenceScenario.Run, "--batch 32 --seq 128 --vs-onnxruntime [--precision fp32,bf16 --reps 9 --threads N]"),
    ["memory"] = (MemoryScenario.Run, "[--steps 100 --batch 32 --seq 128 --precision fp32 --lengths fixed|varied --rounds 1 --lockstep --allocators glibc,glibc-untuned,glibc-trim,glibc-mmap,tcmalloc,mallopt:arena=2:mmap=4M:trim=64M:pad=16M:maps=N:guard=256M,env:NAME=VALUE+NAME=VALUE --threads N]"),
    ["memory-child"] = (MemoryScenario.Child, "(internal: one allocator's run)"),
    ["threads"] = (ThreadsScenario.Run, "[--policies PASSIVE,ACTIVE --counts 1,2 --batch 32 --seq 64 --rounds 2 --precision fp32]"),
    ["accuracy"] = (AccuracyScenario.Run, "--task sst2|stsb [--examples 8000 (sst2) --epochs 3 --seed 42 --precision fp32,bf16 --data DIR --threads N " + KernelSwitches.Help + "]"),
    ["e2e-sst2"] = (E2eSst2Scenario.Run, "--examples 20000 --vs-pytorch [--precision fp32|bf16 --peer-precision bf16|fp32 --python /usr/bin/python3 --data DIR --peer-only --threads N]"),
};

if (args.Length == 0 || !scenarios.TryGetValue(args[0], out var scenario))
{
    Console.Error.WriteLine("usage: FineTune.Bench <scenario> [options] [--results DIR]");
    foreach (var (name, s) in scenarios) Console.Error.WriteLine($"  {name} {s.Help}");
    return 2;
}
var options = new BenchArgs(args.Skip(1));
Report.ResultsFolder = options.String("results");
Report.WriteResults = Report.ResultsFolder != "none";
scenario.Run(options);
return 0;
