1
ds-0123456789abcdefdpv:Xdelay_s"

district*
	road_type313