# Messy but valid: odd spacing, unaligned equals signs, tabs.
variable "quality"{
type=number
    default  =   80
}
queue   "images"   {
	visibility_timeout="2m"
  max_receives=5
      dead_letter = "images-dead"
}
queue "images-dead" {}

job "thumbnails"{
  type="dispatch"
  queue   =    "images"
  scaling{
   min=0
   max=20
  }
  task "resize"{
    image="oci-archive:./images/resizer.tar"
    args=["--quality","${var.quality}"  ,  "--fast"]
    env={LOG_LEVEL="info",
    MODE   = "fast"}
    resources{
    cpu=500
    memory     =256
      }
  }
}
