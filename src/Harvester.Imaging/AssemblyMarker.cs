namespace Harvester.Imaging;
