using Harvester.App;

return await Cli.RunAsync(args);
