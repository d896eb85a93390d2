namespace Harvester.Clustering;
