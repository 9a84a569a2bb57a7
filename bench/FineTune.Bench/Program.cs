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
    ["onnx"] = (OnnxExportScenario.Run, "--export DIR [--onnx fp32,int8 --shapes 1x24,32x128 --reps 21 --threads 2 --sst2 dev.tsv --conll eng.testb]"),
    ["serve"] = (ServeScenario.Run, "--model DIR [--backend auto|torchsharp|onnxruntime --precision fp32|int8 --concurrency 1,8,64 --requests 300,1000,2000 (per round) --rounds 3 --threads 2 --max-wait-ms 5 --max-batch-requests 64 --forward-batch-size 8 --offline-batch 8,32,64 --sst2 dev.tsv --warmup 200]"),
    ["serve-child"] = (ServeScenario.Child, "(internal: the server of serve)"),
    ["memory"] = (MemoryScenario.Run, "[--steps 100 --batch 32 --seq 128 --precision fp32 --lengths fixed|varied --rounds 1 --lockstep --allocators glibc,glibc-untuned,glibc-trim,glibc-mmap,tcmalloc,mallopt:arena=2:mmap=4M:trim=64M:pad=16M:maps=N:guard=256M,env:NAME=VALUE+NAME=VALUE --threads N]"),
    ["memory-child"] = (MemoryScenario.Child, "(internal: one allocator's run)"),
    ["threads"] = (ThreadsScenario.Run, "[--policies PASSIVE,ACTIVE --counts 1,2 --batch 32 --seq 64 --rounds 2 --precision fp32]"),
    ["accuracy"] = (AccuracyScenario.Run, "--task sst2|stsb [--examples 8000 (sst2) --epochs 3 --seed 42 --precision fp32,bf16 --data DIR --threads N " + KernelSwitches.Help + "]"),
    ["tokenize"] = (TokenizeScenario.Run, "[--types wordpiece,bpe,unigram --texts 20000 --reps 5 --warmup 1 --node node --data DIR]  (peer: cd tools/golden && npm install)"),
    ["mltokenizers"] = (MlTokenizersScenario.Run, "[--texts 20000 --reps 3 --data DIR]  (Microsoft.ML.Tokenizers 3.0.0 against the goldens and our speed)"),
    ["seq2seq"] = (Seq2SeqScenario.Run, "[--batch 32 --reps 6 --precision fp32,bf16 --sentences 64 --beams 4 --max-new-tokens 40 --generator RUN/model --export EXPORT --skip-no-cache --skip-training --copy --data DIR --threads N]"),
    ["allreduce"] = (AllReduceScenario.Run, "(under mpirun -np N) [--sizes-kib 4,64,1024,16384 --reps 9 --warmup 2]"),
    ["scaling"] = (ScalingScenario.Run, "[--models minilm,base --batch 32 --seq 128 --reps 3 --machines 2,4,8 --gbits 10,25 --latency-us 50 --threads N]"),
    ["data-parallel-sst2"] = (DataParallelSst2Scenario.Run, "[--examples 3000 --rounds 3 --precision fp32 --data DIR] (needs mpirun)"),
    ["e2e-sst2"] = (E2eSst2Scenario.Run, "--examples 20000 --vs-pytorch [--precision fp32|bf16 --peer-precision bf16|fp32 --python /usr/bin/python3 --data DIR --peer-only --threads N]"),
};

if (args.Length == 0 || !scenarios.TryGetValue(args[0], out var scenario))
{
    Console.Error.WriteLine("usage: FineTune.Bench <scenario> [options] [--results DIR]");
    foreach (var (name, s) in scenarios) Console.Error.WriteLine($"  {name} {s.Help}");
    return 2;
}
try
{
    var options = new BenchArgs(args.Skip(1));
    Report.ResultsFolder = options.String("results");
    Report.WriteResults = Report.ResultsFolder != "none";
    scenario.Run(options);
    return 0;
}
catch (Exception e) when (e is ArgumentException or FormatException or FineTune.FineTuneException)
{
    // A wrong option or a missing file: one line and exit 2, as the CLI answers them.
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
