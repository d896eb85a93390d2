namespace Harvester.Crawling;
