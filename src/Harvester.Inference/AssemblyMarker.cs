namespace Harvester.Inference;
