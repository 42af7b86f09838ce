/* The graph pair_style seimlip gives its model each step (see pair_seimlip.cpp for the modes):
   nodes (owned mapped atoms first, then the ghosts the model needs), species and edges. */

#include "pair_seimlip.h"

#include "atom.h"
#include "error.h"
#include "neigh_list.h"
#include "neighbor.h"

#include <algorithm>

using namespace LAMMPS_NS;

int64_t PairSeimlip::build_graph()
{
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  double **x = atom->x;
  const int *type = atom->type;
  const int *numneigh = list->numneigh;
  int **firstneigh = list->firstneigh;
  cutoffsq = cutoff * cutoff;

  // halo: the graph of one hop (owned centres, ghost neighbours); features cross ranks instead
  const int L = use_halo ? 1 : ninteractions;
  nodes.clear();
  node_of.assign(nall, -1);
  hops.assign(nall, L + 1);
  // atoms of types mapped to NULL (pair_style hybrid/overlay) are not part of the graph at all;
  // owned mapped atoms come first (nodes 0..nown-1): their energies are the ones that count
  if (use_images) {
    // One rank: every ghost is a periodic image of an owned atom. Point each edge at the owner
    // (the edge vector still comes from the image's position, as periodic shifts do in ASE), so
    // the model sees exactly the owned atoms and their edges, nothing of the ghost shell.
    const tagint *tag = atom->tag;
    tagint maxtag = 0;
    for (int i = 0; i < nlocal; i++) maxtag = std::max(maxtag, tag[i]);
    owner_of_tag.assign(static_cast<size_t>(maxtag) + 1, -1);
    for (int i = 0; i < nlocal; i++) {
      owner_of_tag[tag[i]] = i;
      if (!mapped(i)) continue;
      hops[i] = 0;
      node_of[i] = static_cast<int>(nodes.size());
      nodes.push_back(i);
    }
    for (int j = nlocal; j < nall; j++) {
      if (!mapped(j)) continue;
      const tagint t = tag[j];
      const int owner = (t >= 0 && t <= maxtag) ? owner_of_tag[t] : -1;
      if (owner < 0)
        error->one(FLERR, "pair_style seimlip: ghost atom {} has no owned atom on this rank "
                   "(use graph ghosts)", t);
      node_of[j] = node_of[owner];
    }
  } else {
    // Owned atoms feel atoms up to L = n_interactions hops away (message passing). Find the hop
    // distance of every atom (breadth-first over the cutoff graph), give the model only atoms
    // within L hops, and edges only around atoms within L - 1 hops: the rest of the ghost shell
    // cannot change an owned atom's energy.
    frontier.clear();
    for (int i = 0; i < nlocal; i++) {
      if (!mapped(i)) continue;
      hops[i] = 0;
      frontier.push_back(i);
    }
    for (int hop = 1; hop <= L && !frontier.empty(); hop++) {
      next_frontier.clear();
      for (int i : frontier) {
        const int *jlist = firstneigh[i];
        for (int jj = 0; jj < numneigh[i]; jj++) {
          const int j = jlist[jj] & NEIGHMASK;
          if (hops[j] <= hop || !mapped(j)) continue;
          const double dx = x[j][0] - x[i][0], dy = x[j][1] - x[i][1], dz = x[j][2] - x[i][2];
          if (dx * dx + dy * dy + dz * dz >= cutoffsq) continue;
          hops[j] = hop;
          next_frontier.push_back(j);
        }
      }
      frontier.swap(next_frontier);
    }
    for (int i = 0; i < nall; i++)
      if (hops[i] <= L) {
        node_of[i] = static_cast<int>(nodes.size());
        nodes.push_back(i);
      }
  }
  nown = 0;
  for (int k = 0; k < static_cast<int>(nodes.size()) && nodes[k] < nlocal; k++) nown++;
  const int nnodes = static_cast<int>(nodes.size());
  species_buf.resize(nnodes);
  for (int k = 0; k < nnodes; k++) species_buf[k] = type2species[type[nodes[k]]];

  edge_i.clear();
  edge_j.clear();
  edge_vec.clear();
  for (int k = 0; k < nnodes; k++) {
    const int i = nodes[k];
    if (hops[i] >= L) continue;
    const double xi = x[i][0], yi = x[i][1], zi = x[i][2];
    const int *jlist = firstneigh[i];
    for (int jj = 0; jj < numneigh[i]; jj++) {
      const int j = jlist[jj] & NEIGHMASK;
      if (node_of[j] < 0) continue;  // a NULL-type atom
      const double dx = x[j][0] - xi, dy = x[j][1] - yi, dz = x[j][2] - zi;
      if (dx * dx + dy * dy + dz * dz >= cutoffsq) continue;
      edge_i.push_back(k);
      edge_j.push_back(node_of[j]);
      edge_vec.push_back(dx);
      edge_vec.push_back(dy);
      edge_vec.push_back(dz);
    }
  }
  const int64_t nedges = static_cast<int64_t>(edge_i.size());
  edge_index.resize(2 * nedges);
  std::copy(edge_i.begin(), edge_i.end(), edge_index.begin());
  std::copy(edge_j.begin(), edge_j.end(), edge_index.begin() + nedges);
  return nedges;
}
