# Worker image: the harvester CLI with Debian's Chromium for crawling.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/Harvester.App/Harvester.App.csproj -c Release -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium fonts-dejavu-core fonts-noto-cjk libfontconfig1 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app .
ENV Harvester__Storage__Root=/data
VOLUME /data
ENTRYPOINT ["dotnet", "/app/harvester.dll"]
CMD ["worker"]
