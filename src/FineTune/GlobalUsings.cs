// The bottom layer (options records and configs) is used by every layer above it.
global using FineTune.Configuration;
