"""Dataset downloads: `recsys-kit data get NAME` fetches the public files, checks them against
checksums recorded here, and converts them into the files the shipped recipes read."""
