
+f*pb-1RoZdpv:ProvideOfficialStatistics