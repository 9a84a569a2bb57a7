using FineTune.Cli;

return CliRunner.Invoke(CliApp.BuildRoot(), args);
